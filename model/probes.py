"""Frozen-encoder evaluation: an attentive probe (V-JEPA 2's AttentivePooler: a learnable query,
depth−1 self-attention blocks, one cross-attention block, a linear head) over cached tokens, and a linear
probe on pooled features. EF is regressed on a z-scored target; views are classified. Predictions are
averaged over several clips per video (test-time averaging). `fit_probe_heads` trains V-JEPA 2's grid of
heads (one per lr × weight decay) in one pass; evaluation.probe_protocol selects among them on VAL."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from model.vision_transformer import Block


class CrossAttentionBlock(nn.Module):
    """A query attends to the tokens, then an MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm_q, self.norm_kv = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, query: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(tokens)
        x = query + self.attn(self.norm_q(query), kv, kv, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


def temporal_contrast(tokens: torch.Tensor, time_steps: int) -> torch.Tensor:
    """[B, N, D] tokens of a T × S grid (time-major) -> [B, N, 2D]: each token beside its deviation from its
    own position's mean over time. Parameter-free; it lets a pooling probe see motion amplitude."""
    b, n, d = tokens.shape
    if n % time_steps:
        raise ValueError(f"{n} tokens do not form {time_steps} time steps")
    grid = tokens.reshape(b, time_steps, n // time_steps, d)
    deviation = (grid - grid.mean(dim=1, keepdim=True)).reshape(b, n, d)
    return torch.cat([tokens, deviation], dim=-1)


class AttentiveProbe(nn.Module):
    """tokens [B, N, D] -> outputs [B, out].

    With `time_steps` > 0 the tokens first pass through `temporal_contrast` (the probe then works at width
    2D). A one-query cross-attention pool is a weighted *mean* of the tokens, which cannot express how much
    a region changes over the clip; EF is exactly that (how far the ventricle empties), so without it the
    probe reaches R² ≈ 0 on the simulator for every encoder (see docs/model.md, "What the spike found")."""

    def __init__(self, width: int, out: int, depth: int = 1, heads: int = 4, time_steps: int = 0) -> None:
        super().__init__()
        self.time_steps = time_steps
        width = 2 * width if time_steps else width
        self.query = nn.Parameter(torch.zeros(1, 1, width))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth - 1))
        self.cross = CrossAttentionBlock(width, heads)
        self.head = nn.Linear(width, out)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.time_steps:
            tokens = temporal_contrast(tokens, self.time_steps)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.cross(self.query.expand(tokens.shape[0], -1, -1), tokens)[:, 0])


class LinearProbe(nn.Module):
    """Mean-pooled tokens -> outputs."""

    def __init__(self, width: int, out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, out)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(tokens.mean(dim=1)))


@dataclass(frozen=True)
class ProbeSpec:
    """How a probe is built and trained (params.yaml `probe:` through ProbeConfig.spec)."""

    kind: str  # "attentive" or "linear"
    depth: int
    heads: int
    epochs: int
    lr: float
    weight_decay: float
    batch_size: int
    time_steps: int  # > 0: temporal-contrast input over this many token time steps (AttentiveProbe)


def build_probe(spec: ProbeSpec, width: int, out: int) -> nn.Module:
    """The untrained probe a spec describes (training, and serving when it loads saved weights)."""
    if spec.kind == "attentive":
        return AttentiveProbe(width, out, spec.depth, spec.heads, spec.time_steps)
    return LinearProbe(width, out)


def fit_probe(
    tokens: np.ndarray, target: np.ndarray, kind: str, spec: ProbeSpec, seed: int, classes: int = 0
) -> tuple[nn.Module, float | None, float | None]:
    """Train one probe (spec.lr, spec.weight_decay) on cached tokens [V, C, N, D]: `fit_probe_heads` with
    a grid of one head. Returns the probe and the target mean and std (None for a classifier)."""
    heads, mean, std = fit_probe_heads(tokens, target, kind, spec, seed, classes)
    return heads[0], mean, std


def fit_probe_heads(
    tokens: np.ndarray,
    target: np.ndarray,
    kind: str,
    spec: ProbeSpec,
    seed: int,
    classes: int = 0,
    grid: tuple[tuple[float, float], ...] = (),
) -> tuple[list[nn.Module], float | None, float | None]:
    """Train one probe head per (lr, weight_decay) of `grid` in one pass (V-JEPA 2's multi-head probe
    selection) on cached tokens [V, C, N, D] (C clips per video; one drawn per video per epoch).

    Every head sees the same batches in the same order: each batch is drawn and converted once and forwarded
    into every head; the heads' losses are summed into one backward (they share no weight, so each head's
    gradient is its own loss's), and one AdamW steps them with a parameter group per head under the same
    cosine schedule. Every head starts from the same seeded weights, so heads differ only by their (lr,
    weight_decay), and a head trained in a grid is the probe `fit_probe` trains alone with its settings.

    Args:
        kind: "regression" (the target is z-scored inside; the returned mean and std undo it) or
            "classification" (int labels in [0, classes)).
        grid: the heads' (lr, weight_decay); empty: the one head of spec.lr and spec.weight_decay.
    Returns:
        the heads in grid order, and the target mean and std (None for a classifier).
    """
    grid = tuple(grid) or ((spec.lr, spec.weight_decay),)
    rng = np.random.default_rng(seed)
    v, c, _, d = tokens.shape
    mean = std = None
    if kind == "regression":
        mean, std = float(target.mean()), float(target.std() + 1e-6)
        y = torch.tensor((target - mean) / std, dtype=torch.float32)[:, None]
        out, loss_fn = 1, nn.SmoothL1Loss()
    else:
        y = torch.tensor(target, dtype=torch.long)
        out, loss_fn = max(classes, int(target.max()) + 1), nn.CrossEntropyLoss()
    device = probe_device()
    heads = []
    for _ in grid:
        torch.manual_seed(seed)  # the same initial weights for every head
        heads.append(build_probe(spec, d, out).to(device))
    groups = [
        {"params": head.parameters(), "lr": lr, "weight_decay": wd}
        for head, (lr, wd) in zip(heads, grid, strict=True)
    ]
    optimizer = torch.optim.AdamW(groups)
    steps = spec.epochs * max(1, int(np.ceil(v / spec.batch_size)))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    y = y.to(device)
    for _ in range(spec.epochs):
        order = rng.permutation(v)
        for start in range(0, v, spec.batch_size):
            idx = order[start : start + spec.batch_size]
            clip = rng.integers(0, c, len(idx))
            # one batch at a time to float32 (a ViT-L token cache does not fit in memory as float32)
            batch = torch.from_numpy(np.asarray(tokens[idx, clip], dtype=np.float32)).to(device)
            loss = sum(loss_fn(head(batch), y[idx]) for head in heads)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return [h.cpu().eval() for h in heads], mean, std


def probe_device() -> torch.device:
    """CUDA when there is a GPU (the `gpu` budgets), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def predict_raw(probe: nn.Module, tokens: np.ndarray) -> np.ndarray:
    """Raw probe outputs of every clip of tokens [V, C, N, D]: [V, C, out] (no denormalisation: that is
    model.probe_artifact.ProbeArtifact.outputs, the one place it happens)."""
    v, c, n, d = tokens.shape
    flat = np.asarray(tokens).reshape(v * c, n, d)
    device = probe_device()
    probe = probe.to(device)
    chunks = [
        probe(torch.from_numpy(np.asarray(flat[i : i + 256], dtype=np.float32)).to(device)).cpu()
        for i in range(0, v * c, 256)
    ]
    probe.cpu()
    return torch.cat(chunks).reshape(v, c, -1).numpy()


def regression_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    err = pred - true
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ((true - true.mean()) ** 2).sum()),
    }


def classification_metrics(prob: np.ndarray, true: np.ndarray) -> dict[str, float]:
    pred = prob.argmax(1)
    f1s = []
    for k in np.unique(true):
        tp = np.sum((pred == k) & (true == k))
        precision = tp / max(1, np.sum(pred == k))
        recall = tp / max(1, np.sum(true == k))
        f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return {"accuracy": float((pred == true).mean()), "macro_f1": float(np.mean(f1s))}


def label_fraction(labels: np.ndarray, fraction: float, seed: int, floor: int = 2) -> np.ndarray:
    """Indices of a stratified, seeded subset with at least `floor` examples per class (EF: by decile)."""
    rng = np.random.default_rng(seed)
    strata = (
        labels
        if labels.dtype.kind in "iub"
        else np.digitize(labels, np.quantile(labels, np.linspace(0, 1, 11)[1:-1]))
    )
    chosen = []
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        k = min(len(members), max(floor, round(fraction * len(members))))
        chosen.extend(rng.choice(members, k, replace=False))
    return np.sort(np.array(chosen))
