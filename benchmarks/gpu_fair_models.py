"""The models of the GPU fair benchmark (`benchmarks/gpu_fair.py`), torch only, so it runs where pydantic and
Lightning are not installed: a compact video ViT (tubelet 2×16×16, fixed 3-D sin-cos positions, SDPA),
V-JEPA 2 (context encoder, EMA target, narrow predictor, multi-block masks, L1 on layer-normed target
features), VideoMAE (90 % tube masking, light decoder, MSE on per-patch normalised pixels), their analytic
training FLOPs, and the attentive probe (the G probes of an lr × wd grid trained in one pass). The recipe
follows model/jepa.py, model/videomae.py and model/masks.py.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Arch:
    """Encoder, JEPA predictor and VideoMAE decoder sizes, and the clip geometry."""

    width: int
    depth: int
    heads: int
    predictor_width: int  # narrower than the encoder, so the encoder does the work (V-JEPA)
    predictor_depth: int
    predictor_heads: int
    decoder_width: int  # VideoMAE's light decoder
    decoder_depth: int
    decoder_heads: int
    frames: int = 16
    resolution: int = 112
    patch: int = 16
    tubelet: int = 2

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.frames // self.tubelet, self.resolution // self.patch, self.resolution // self.patch

    @property
    def tokens(self) -> int:
        return math.prod(self.grid)

    @property
    def patch_dim(self) -> int:
        return self.tubelet * self.patch**2


# ViT-S/16; predictor and decoder at half the encoder's width (VideoMAE's ViT-S decoder: 192 wide, 4 deep)
SMALL = Arch(384, 12, 6, 192, 6, 6, 192, 4, 6)
TINY = Arch(48, 2, 2, 24, 1, 2, 24, 1, 2)  # the CPU smoke test
JEPA_GENERATORS = ((8, 0.15), (2, 0.7))  # V-JEPA 2: short-range 8 × 15 %, long-range 2 × 70 % blocks
TUBE_RATIO = 0.9


def mixed_precision(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA (flash SDPA, tensor cores); float32 on CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def sincos_3d(dim: int, grid: tuple[int, int, int]) -> torch.Tensor:
    """Fixed positions [t·h·w, dim]: a quarter of dim for time, the rest split between height and width."""
    dt = dim // 4 // 2 * 2
    ds = (dim - dt) // 2 // 2 * 2
    axes = torch.meshgrid(*(torch.arange(n) for n in grid), indexing="ij")
    parts = []
    for d, pos in zip((dt, ds, dim - dt - ds), axes, strict=True):
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2))
        angles = pos.flatten().double()[:, None] * omega[None]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1).float()


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x: [B, N, D], index: [B, K] -> [B, K, D]."""
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


class Block(nn.Module):
    """Pre-norm transformer block with `scaled_dot_product_attention` (flash attention on CUDA)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, N, D] -> [B, N, D]."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear | nn.Conv3d):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


class ViT(nn.Module):
    """Grey clips [B, 1, T, H, W] -> tokens [B, N, D] in (t, h, w) order."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        kernel = (arch.tubelet, arch.patch, arch.patch)
        self.patch_embed = nn.Conv3d(1, arch.width, kernel, kernel)
        self.register_buffer("pos", sincos_3d(arch.width, arch.grid), persistent=False)
        self.blocks = nn.ModuleList(Block(arch.width, arch.heads) for _ in range(arch.depth))
        self.norm = nn.LayerNorm(arch.width)
        self.apply(_init)

    def forward(self, clips: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """keep: [B, K] token indices to encode (the context) or None for all -> [B, K or N, D]."""
        x = self.patch_embed(clips).flatten(2).transpose(1, 2) + self.pos
        x = x if keep is None else gather_tokens(x, keep)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def multiblock_masks(
    blocks: int,
    scale: float,
    batch: int,
    grid: tuple[int, int, int],
    g: torch.Generator,
    min_context: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-JEPA multi-block masks: context and target indices ([B, Nc], [B, Nt]). The union of `blocks` spatial
    blocks (one size per batch, aspect 0.75–1.5) is hidden through all time; each sample's indices are a
    random subset truncated to the batch's shortest, so they stack (as the reference code); a sample that
    would keep fewer than `min_context` spatial positions is redrawn."""
    t, h, w = grid
    dev = g.device
    aspect = math.exp(math.log(0.75) + math.log(2.0) * torch.rand(1, generator=g, device=dev).item())
    bh = max(1, min(h, round(math.sqrt(scale * h * w * aspect))))
    bw = max(1, min(w, round(math.sqrt(scale * h * w / aspect))))
    rows, cols = torch.arange(h, device=dev), torch.arange(w, device=dev)

    def draw() -> torch.Tensor:  # [B, h, w]: True where a block covers
        top = torch.randint(0, h - bh + 1, (batch, blocks, 1), generator=g, device=dev)
        left = torch.randint(0, w - bw + 1, (batch, blocks, 1), generator=g, device=dev)
        in_rows, in_cols = (rows >= top) & (rows < top + bh), (cols >= left) & (cols < left + bw)
        return (in_rows[..., :, None] & in_cols[..., None, :]).any(1)

    spatial = draw()
    for _ in range(20):
        bad = (~spatial).flatten(1).sum(1) < min_context
        if not bool(bad.any()):
            break
        spatial = torch.where(bad[:, None, None], draw(), spatial)
    hidden = spatial.flatten(1).repeat(1, t)  # [B, N]: token (ti, s) -> spatial s
    score = torch.rand(hidden.shape, generator=g, device=dev)  # random subset when truncating
    n_tgt, n_ctx = int(hidden.sum(1).min()), int((~hidden).sum(1).min())
    tgt = (score + 2 * hidden).topk(n_tgt, dim=1).indices.sort(1).values
    ctx = (score + 2 * ~hidden).topk(n_ctx, dim=1).indices.sort(1).values
    return ctx, tgt


def tube_masks(
    ratio: float, batch: int, grid: tuple[int, int, int], g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """VideoMAE tube masks ([B, N_visible], [B, N_masked]): `ratio` of spatial positions hidden throughout."""
    t, h, w = grid
    hw = h * w
    n_hidden = min(hw - 1, max(1, round(ratio * hw)))
    perm = torch.rand(batch, hw, generator=g, device=g.device).argsort(1)
    offsets = torch.arange(t, device=g.device)[None, :, None] * hw
    hide, keep = perm[:, :n_hidden].sort(1).values, perm[:, n_hidden:].sort(1).values
    return (offsets + keep[:, None]).flatten(1), (offsets + hide[:, None]).flatten(1)


def blocks_flops(tokens: int, width: int, depth: int) -> int:
    """Forward matmul FLOPs of `depth` blocks: 24·N·D² (qkv, projection, MLP) + 4·N²·D (QKᵀ and AV)."""
    return depth * (24 * tokens * width**2 + 4 * tokens**2 * width)


def encoder_flops(arch: Arch, kept: int) -> int:
    """Forward FLOPs of the encoder: the patch embedding of all tubelets, then the blocks on `kept` tokens."""
    return 2 * arch.tokens * arch.patch_dim * arch.width + blocks_flops(kept, arch.width, arch.depth)


def jepa_step_flops(arch: Arch, batch: int, masks: list[tuple[int, int]]) -> int:
    """Training FLOPs of one JEPA step; masks: (context, target) token counts per generator. The EMA target's
    forward once; per generator, forward + backward (3×) of the context encoder and of the predictor
    (embedding on the context, blocks on context + targets, output on the targets)."""
    w, pw = arch.width, arch.predictor_width
    total = encoder_flops(arch, arch.tokens)
    for n_ctx, n_tgt in masks:
        predictor = (
            2 * n_ctx * w * pw + blocks_flops(n_ctx + n_tgt, pw, arch.predictor_depth) + 2 * n_tgt * pw * w
        )
        total += 3 * (encoder_flops(arch, n_ctx) + predictor)
    return batch * total


def videomae_step_flops(arch: Arch, batch: int, visible: int, masked: int) -> int:
    """Training FLOPs of one VideoMAE step: forward + backward (3×) of the encoder on the visible tokens and
    of the decoder (embedding on the visible, blocks on all, pixel head on the masked tokens)."""
    dw = arch.decoder_width
    decoder = (
        2 * visible * arch.width * dw
        + blocks_flops(visible + masked, dw, arch.decoder_depth)
        + 2 * masked * dw * arch.patch_dim
    )
    return batch * 3 * (encoder_flops(arch, visible) + decoder)


class Predictor(nn.Module):
    """Context tokens and a learnable mask token per generator at each target position -> target features."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        pw = arch.predictor_width
        self.embed, self.out = nn.Linear(arch.width, pw), nn.Linear(pw, arch.width)
        self.register_buffer("pos", sincos_3d(pw, arch.grid), persistent=False)
        self.mask_tokens = nn.Parameter(torch.zeros(len(JEPA_GENERATORS), pw))
        self.blocks = nn.ModuleList(Block(pw, arch.predictor_heads) for _ in range(arch.predictor_depth))
        self.norm = nn.LayerNorm(pw)
        self.apply(_init)

    def forward(self, context: torch.Tensor, ctx: torch.Tensor, tgt: torch.Tensor, g: int) -> torch.Tensor:
        """context: [B, Nc, D] at ctx [B, Nc]; tgt: [B, Nt] -> predicted [B, Nt, D]."""
        pos = self.pos.expand(ctx.shape[0], -1, -1)
        queries = self.mask_tokens[g] + gather_tokens(pos, tgt)
        x = torch.cat([self.embed(context) + gather_tokens(pos, ctx), queries], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x[:, -tgt.shape[1] :]))


class JEPA(nn.Module):
    def __init__(self, arch: Arch, encoder: ViT) -> None:
        super().__init__()
        self.arch, self.encoder, self.predictor = arch, encoder, Predictor(arch)
        self.target = copy.deepcopy(encoder).requires_grad_(False)

    def loss(self, clips: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, int]:
        """clips: [B, 1, T, H, W] -> (mean over generators of the L1 at masked tokens, the step's FLOPs)."""
        with torch.no_grad():
            target = self.target(clips)
            target = F.layer_norm(target, target.shape[-1:])
        losses, counts = [], []
        for i, (blocks, scale) in enumerate(JEPA_GENERATORS):
            ctx, tgt = multiblock_masks(blocks, scale, clips.shape[0], self.arch.grid, g)
            pred = self.predictor(self.encoder(clips, keep=ctx), ctx, tgt, i)
            losses.append((pred - gather_tokens(target, tgt)).abs().mean())
            counts.append((ctx.shape[1], tgt.shape[1]))
        return torch.stack(losses).mean(), jepa_step_flops(self.arch, clips.shape[0], counts)

    def planned_step_flops(self, batch: int, g: torch.Generator, draws: int = 8) -> float:
        """Mean FLOPs of one step over a few mask draws (their sizes vary per batch), for planning only."""
        total = 0
        for _ in range(draws):
            masks = [multiblock_masks(n, s, batch, self.arch.grid, g) for n, s in JEPA_GENERATORS]
            total += jepa_step_flops(self.arch, batch, [(c.shape[1], t.shape[1]) for c, t in masks])
        return total / draws

    @torch.no_grad()
    def after_step(self, momentum: float) -> None:
        """target ← momentum · target + (1 − momentum) · encoder."""
        torch._foreach_lerp_(list(self.target.parameters()), list(self.encoder.parameters()), 1 - momentum)


def patchify(clips: torch.Tensor, arch: Arch) -> torch.Tensor:
    """[B, 1, T, H, W] -> [B, N, tubelet·patch²] in the encoder's token order."""
    b, tb, p = clips.shape[0], arch.tubelet, arch.patch
    t, h, w = arch.grid
    x = clips.reshape(b, t, tb, h, p, w, p).permute(0, 1, 3, 5, 2, 4, 6)
    return x.reshape(b, t * h * w, tb * p * p)


class VideoMAE(nn.Module):
    def __init__(self, arch: Arch, encoder: ViT) -> None:
        super().__init__()
        dw = arch.decoder_width
        self.arch, self.encoder = arch, encoder
        self.decoder_embed, self.head = nn.Linear(arch.width, dw), nn.Linear(dw, arch.patch_dim)
        self.mask_token = nn.Parameter(torch.zeros(dw))
        self.register_buffer("pos", sincos_3d(dw, arch.grid), persistent=False)
        self.decoder = nn.ModuleList(Block(dw, arch.decoder_heads) for _ in range(arch.decoder_depth))
        self.norm = nn.LayerNorm(dw)
        self.apply(_init)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def loss(self, clips: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, int]:
        """clips: [B, 1, T, H, W] -> (MSE on normalised pixels of the masked tubes, the step's FLOPs)."""
        b = clips.shape[0]
        vis, msk = tube_masks(TUBE_RATIO, b, self.arch.grid, g)
        pos = self.pos.expand(b, -1, -1)
        x = torch.cat(
            [
                self.decoder_embed(self.encoder(clips, keep=vis)) + gather_tokens(pos, vis),
                self.mask_token.expand(b, msk.shape[1], -1) + gather_tokens(pos, msk),
            ],
            dim=1,
        )
        for block in self.decoder:
            x = block(x)
        pred = self.head(self.norm(x[:, vis.shape[1] :])).float()
        target = gather_tokens(patchify(clips, self.arch), msk)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        flops = videomae_step_flops(self.arch, b, vis.shape[1], msk.shape[1])
        return ((pred - target) ** 2).mean(), flops

    def planned_step_flops(self, batch: int, g: torch.Generator) -> float:
        vis, msk = tube_masks(TUBE_RATIO, 1, self.arch.grid, g)
        return float(videomae_step_flops(self.arch, batch, vis.shape[1], msk.shape[1]))

    def after_step(self, momentum: float) -> None:
        """VideoMAE has no target encoder."""


class Probes(nn.Module):
    """G attentive probes trained in one pass on the same frozen tokens (one per lr × wd of the grid): a
    learnable query, multi-head cross-attention over the tokens, a linear head. Each probe keeps its own
    parameters (its own optimiser group); the forward stacks them, so G probes cost one set of kernels."""

    def __init__(self, count: int, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.probes = nn.ModuleList(
            nn.ParameterDict(
                {
                    "query": nn.Parameter(torch.randn(width) * 0.02),
                    "q": nn.Parameter(torch.randn(width, width) * 0.02),
                    "kv": nn.Parameter(torch.randn(2 * width, width) * 0.02),
                    "kv_bias": nn.Parameter(torch.zeros(2 * width)),
                    "head": nn.Parameter(torch.zeros(width)),
                    "head_bias": nn.Parameter(torch.zeros(1)),
                }
            )
            for _ in range(count)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: [B, N, D] -> predictions [G, B]."""
        stack = {k: torch.stack([p[k] for p in self.probes]) for k in self.probes[0]}
        b, n, d = tokens.shape
        g, h = len(self.probes), self.heads
        x = F.layer_norm(tokens, (d,))
        kv = torch.einsum("bnd,ged->gbne", x, stack["kv"]) + stack["kv_bias"][:, None, None]
        k, v = kv.reshape(g * b, n, 2, h, d // h).permute(2, 0, 3, 1, 4)
        q = torch.einsum("gd,ged->ge", stack["query"], stack["q"]).view(g, 1, h, 1, d // h)
        q = q.expand(g, b, h, 1, d // h).reshape(g * b, h, 1, d // h)
        pooled = F.scaled_dot_product_attention(q, k, v).view(g, b, d)
        pooled = F.layer_norm(pooled, (d,))
        return torch.einsum("gbd,gd->gb", pooled, stack["head"]) + stack["head_bias"]


@dataclass(frozen=True)
class ProbeRecipe:
    """The attentive probe's training: V-JEPA 2's protocol at a size that fits the window."""

    heads: int = 4
    epochs: int = 20
    batch: int = 128
    lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3)  # a slice of V-JEPA 2's evaluation grid
    wds: tuple[float, ...] = (0.01, 0.1)
    clips_per_video: int = 3  # evenly spaced, averaged per video (params.yaml probe.clips_per_video)
    seed: int = 0


@torch.no_grad()
def embed(encoder: ViT, cache: torch.Tensor, stats: tuple[float, float], batch: int = 64) -> torch.Tensor:
    """Frozen tokens of every cached clip (uint8 [C, T, H, W], full frame, no crop; stats: the pixels' mean
    and std): [C, N, D], bf16 on CUDA."""
    encoder.eval()
    dev, out = cache.device, []
    for i in range(0, len(cache), batch):
        clips = ((cache[i : i + batch].float() / 255 - stats[0]) / stats[1]).unsqueeze(1)
        with mixed_precision(dev):
            half = torch.is_autocast_enabled(dev.type)  # bf16 tokens: half the memory of the probe's input
            out.append(encoder(clips).to(torch.bfloat16 if half else torch.float32))
    return torch.cat(out)


def _clip_ids(videos: torch.Tensor, k: int) -> torch.Tensor:
    """Video indices [V] -> their clips' rows of the cache [V·K]."""
    return (videos[:, None] * k + torch.arange(k, device=videos.device)).flatten()


def fit_probes(
    tokens: torch.Tensor,
    videos: torch.Tensor,
    ef: np.ndarray,
    grid: list,
    recipe: ProbeRecipe,
    deadline: float,
) -> tuple[Probes, int]:
    """len(grid) probes in one pass on the clips of `videos`, AdamW with one (lr, wd) of the grid each, cosine
    over `recipe.epochs`, Huber loss on EF standardised by these videos' labels; stops after the first epoch
    that ends past `deadline`. Returns the probes and the epochs done."""
    dev, k = tokens.device, recipe.clips_per_video
    gen = torch.Generator(device=dev).manual_seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    probes = Probes(len(grid), tokens.shape[-1], recipe.heads).to(dev)
    groups = [
        {"params": list(p.values()), "lr": lr, "weight_decay": wd}
        for p, (lr, wd) in zip(probes.probes, grid, strict=True)
    ]
    optimizer = torch.optim.AdamW(groups)
    clip_ids = _clip_ids(videos, k)
    y = torch.as_tensor(ef, device=dev, dtype=torch.float32)[videos].repeat_interleave(k)
    probes.mu, probes.sd = float(y.mean()), float(y.std().clamp(min=1e-3))
    steps = recipe.epochs * math.ceil(len(clip_ids) / recipe.batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    epochs = 0
    while epochs < recipe.epochs and (epochs == 0 or time.perf_counter() < deadline):
        epochs += 1
        order = torch.randperm(len(clip_ids), generator=gen, device=dev)
        for i in range(0, len(order), recipe.batch):
            b = order[i : i + recipe.batch]
            with mixed_precision(dev):
                pred = probes(tokens[clip_ids[b]]).float()
            target = ((y[b] - probes.mu) / probes.sd).expand_as(pred)
            loss = F.smooth_l1_loss(pred, target, reduction="sum") / len(b)  # a sum over the probes
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return probes, epochs


@torch.no_grad()
def predict(probes: Probes, tokens: torch.Tensor, videos: torch.Tensor, k: int) -> np.ndarray:
    """Per-video EF predictions [G, V]: each probe's output averaged over the video's clips."""
    ids = _clip_ids(videos, k)
    with mixed_precision(tokens.device):
        out = torch.cat([probes(tokens[ids[i : i + 256]]).float() for i in range(0, len(ids), 256)], dim=1)
    return (out.view(len(probes.probes), len(videos), k).mean(-1) * probes.sd + probes.mu).cpu().numpy()
