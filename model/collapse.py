"""A collapse monitor: RankMe (Garrido et al. 2023, "RankMe: Assessing the downstream performance of
pretrained self-supervised representations by their rank") of an encoder's embeddings of held-out clips.

RankMe of a matrix with singular values s is exp(H(p)), p = s / Σ s + ε: the effective number of directions
the embeddings use, between 1 (every row the same direction) and min(N, D). Two figures per encoder:
- `pooled`: the token-mean embedding of each clip, [M, D], *raw* (not centred), as in the paper; the mean
  embedding is one of its directions, so it is ≥ 1 even for a constant encoder.
- `tokens`: every token of every clip, [M·N, D], after subtracting each position's mean over the clips, so the
  fixed sin-cos positional embeddings (which differ across positions, not across clips) do not count: a
  collapsed encoder that only passes its positions through scores ≈ 1, not ≈ the rank of the positions.

Held-out clips are one clip (the video's middle one) of each VAL / TEST study of the run's manifest, at most
`MAX_CLIPS` (≥ 512 clips on real data; the tiny simulator has ~75), taken from the clip cache and encoded in
float32: a float16 token cache adds a noise floor of ~5e-4 per value that lifts the RankMe of a collapsed
encoder, whose centred tokens are nearly zero.

    clips = held_out_clips(config.data, frames=16, frame_step=4)
    effective_rank(encoder, clips)   # EffectiveRank(pooled=…, tokens=…, clips=75, width=96)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from config.layout import DataLayout
from model.config import DataConfig
from model.data import cut_clip, to_tensor
from model.vision_transformer import VideoViT

EPS = 1e-7  # the paper's ε: keeps log p finite for zero singular values
MAX_CLIPS = 512  # enough rows for a D ≤ 512 matrix to show its full rank; larger sets add little
HELD_OUT_SPLITS = ("VAL", "TEST")  # never seen by pretraining (which reads TRAIN only)
BATCH = 16  # clips per encoder forward
# centred singular values below this share of the tokens' own norm ‖X‖_F are float32 rounding (~1e-7 · ‖X‖_F),
# not variation: without the floor, an encoder whose output ignores the clip scores ≈ D on its noise
RELATIVE_FLOOR = 1e-5


def rankme_of_singular_values(singular_values: np.ndarray | torch.Tensor, floor: float = 0.0) -> float:
    """exp(−Σ p log p) with p = s / Σ s + ε, singular values ≤ `floor` counted as zero (rounding noise); 0
    when none is left (nothing varies: no direction to count)."""
    s = torch.as_tensor(singular_values, dtype=torch.float64).clamp(min=0)
    s = torch.where(s > floor, s, torch.zeros_like(s))
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total + EPS
    return float(torch.exp(-(p * p.log()).sum()))


def rankme(matrix: np.ndarray | torch.Tensor) -> float:
    """RankMe of the raw rows of `matrix` [N, D] (not centred, as in Garrido et al.)."""
    x = torch.as_tensor(matrix, dtype=torch.float64)
    return rankme_of_singular_values(torch.linalg.svdvals(x))


def rankme_of_gram(gram: np.ndarray | torch.Tensor, floor: float = 0.0) -> float:
    """RankMe of a matrix X given only XᵀX [D, D]: the singular values are √ of its eigenvalues."""
    eigenvalues = torch.linalg.eigvalsh(torch.as_tensor(gram, dtype=torch.float64))
    return rankme_of_singular_values(eigenvalues.clamp(min=0).sqrt(), floor)


class TokenStatistics:
    """What both figures need, accumulated batch by batch in float64 without keeping the tokens (512 clips of
    ViT-L tokens are 3 GB): the pooled rows, XᵀX over all tokens and each position's sum over clips.

    The per-position-centred scatter is Σ_m (X_m − μ)ᵀ(X_m − μ) = Σ_m X_mᵀX_m − M · Σ_n μ_nᵀμ_n, exactly."""

    def __init__(self) -> None:
        self.pooled: list[torch.Tensor] = []
        self.gram: torch.Tensor | None = None
        self.position_sum: torch.Tensor | None = None
        self.clips = 0

    def update(self, tokens: torch.Tensor) -> None:
        """tokens: [B, N, D] of B clips."""
        x = tokens.detach().to("cpu", torch.float64)
        b, n, d = x.shape
        if self.gram is None:
            self.gram, self.position_sum = (
                torch.zeros(d, d, dtype=torch.float64),
                torch.zeros(n, d, dtype=torch.float64),
            )
        flat = x.reshape(b * n, d)
        self.gram += flat.T @ flat
        self.position_sum += x.sum(0)
        self.pooled.append(x.mean(1))
        self.clips += b

    def centred_gram(self) -> torch.Tensor:
        """Σ over clips and positions of (x − μ_position)(x − μ_position)ᵀ: [D, D]."""
        mean = self.position_sum / self.clips
        return self.gram - self.clips * mean.T @ mean

    def token_rankme(self) -> float:
        """RankMe of the tokens centred per position, variation below RELATIVE_FLOOR · ‖X‖_F ignored."""
        norm = float(torch.trace(self.gram).clamp(min=0).sqrt())
        return rankme_of_gram(self.centred_gram(), RELATIVE_FLOOR * norm)

    def result(self) -> EffectiveRank:
        if self.clips < 2:
            raise ValueError(f"{self.clips} clip(s): RankMe of tokens centred per position needs at least 2")
        pooled = torch.cat(self.pooled)
        return EffectiveRank(
            pooled=round(rankme(pooled), 4), tokens=round(self.token_rankme(), 4),
            clips=self.clips, width=int(pooled.shape[1]),
        )  # fmt: skip


@dataclass(frozen=True)
class EffectiveRank:
    """An encoder's RankMe on `clips` held-out clips: in [1, min(rows, width)], 0 when nothing varies."""

    pooled: float  # of the raw token-mean embeddings [clips, width]
    tokens: float  # of the tokens centred per position [clips · tokens, width]
    clips: int
    width: int

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class HeldOutClips:
    """uint8 clips [T, H, W] of held-out studies (one each), tensorised batch by batch at `resolution`."""

    names: tuple[str, ...]
    clips: tuple[np.ndarray, ...]
    resolution: int
    split: str  # which rows they are: "VAL+TEST", or "all (no Split column)"

    def __len__(self) -> int:
        return len(self.clips)

    def batches(self, size: int = BATCH) -> Iterator[torch.Tensor]:
        """[B, 1, T, R, R] normalised clips, as the encoder takes them."""
        for start in range(0, len(self.clips), size):
            yield torch.stack([to_tensor(c, self.resolution) for c in self.clips[start : start + size]])


def held_out_clips(data: DataConfig, max_clips: int = MAX_CLIPS) -> HeldOutClips:
    """The middle clip of each VAL / TEST study of the run's manifest (every study when it has no Split
    column), in manifest order, at most `max_clips`, read from the clip cache (`build_clip_cache`)."""
    layout = DataLayout.from_data(data)
    table = pd.read_csv(layout.manifest, dtype={"FileName": str})
    split = "all (no Split column)"
    if "Split" in table:
        table = table[table.Split.astype(str).str.upper().isin(HELD_OUT_SPLITS)]
        split = "+".join(HELD_OUT_SPLITS)
    names = tuple(table.FileName.head(max_clips))
    span = data.frames * data.frame_step
    clips = []
    for name in names:
        video = np.load(Path(layout.cache_dir) / f"{name}.npy", mmap_mode="r")
        clips.append(
            np.ascontiguousarray(
                cut_clip(video, max(0, len(video) - span) // 2, data.frames, data.frame_step)
            )
        )
    return HeldOutClips(names, tuple(clips), data.resolution, split)


@torch.no_grad()
def effective_rank(encoder: VideoViT, clips: HeldOutClips) -> EffectiveRank:
    """Both RankMe figures of `encoder` on the held-out clips, in float32 on the encoder's device.

    Raises:
        ValueError: fewer than 2 clips (no per-position centring on one clip).
    """
    weight = next(encoder.parameters())  # its device and dtype (bf16-true runs keep bf16 weights)
    statistics = TokenStatistics()
    for batch in clips.batches():
        statistics.update(encoder(batch.to(weight.device, weight.dtype)))
    return statistics.result()


def effective_ranks(encoders: dict[str, VideoViT], clips: HeldOutClips) -> dict:
    """{"clips", "split", name: {"pooled", "tokens"} for each encoder}, or {"clips", "split", "reason"}
    when there are too few held-out clips to measure (what metrics.json and evaluation.json record)."""
    head: dict = {"clips": len(clips), "split": clips.split}
    if len(clips) < 2:
        return head | {"reason": f"{len(clips)} held-out ({clips.split}) clip(s); RankMe needs at least 2"}
    for name, encoder in encoders.items():
        figures = effective_rank(encoder, clips)
        head[name] = {"pooled": figures.pooled, "tokens": figures.tokens}
        head["width"] = figures.width
    return head
