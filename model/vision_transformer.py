"""Video Vision Transformer: 3-D tubelet patch embedding, fixed 3-D sin-cos positions, pre-norm blocks with
`scaled_dot_product_attention`. Presets by name (`tiny` for CPU up to `large` = ViT-L/16, EchoJEPA-L)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTSpec:
    """Width, depth and heads of a transformer."""

    width: int
    depth: int
    heads: int


PRESETS: dict[str, ViTSpec] = {
    "tiny": ViTSpec(96, 4, 3),  # the CPU recipe (see params.yaml and the science spike)
    "vit_tiny": ViTSpec(192, 12, 3),  # V-JEPA 2's vit_tiny, the speed reference
    "small": ViTSpec(384, 12, 6),
    "base": ViTSpec(768, 12, 12),
    "large": ViTSpec(1024, 24, 16),  # EchoJEPA-L
}


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[N] positions -> [N, dim] sin-cos features (dim even)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.double()[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_3d(dim: int, grid: tuple[int, int, int]) -> torch.Tensor:
    """Fixed positions for a (t, h, w) token grid: [t·h·w, dim]; a quarter of dim for time, the rest split
    between height and width (as V-JEPA 2's 3-D sin-cos)."""
    t, h, w = grid
    dt = dim // 4 // 2 * 2
    ds = (dim - dt) // 2 // 2 * 2
    dw = dim - dt - ds
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    parts = [sincos_1d(dt, tt.flatten()), sincos_1d(ds, hh.flatten()), sincos_1d(dw, ww.flatten())]
    return torch.cat(parts, dim=1)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, N, D] -> [B, N, D]."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VideoViT(nn.Module):
    """Encoder of grey clips [B, 1, T, H, W] into tokens [B, N, D], N = T/tubelet · (H/patch) · (W/patch)."""

    def __init__(
        self,
        *,
        preset: str = "tiny",
        frames: int = 16,
        resolution: int = 112,
        patch_size: int = 16,
        tubelet: int = 2,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"unknown model preset {preset!r}; expected one of {', '.join(PRESETS)}")
        if frames % tubelet or resolution % patch_size:
            raise ValueError(
                f"frames {frames} / resolution {resolution} not divisible by tubelet / patch size"
            )
        spec = PRESETS[preset]
        self.spec = spec
        self.grid = (frames // tubelet, resolution // patch_size, resolution // patch_size)
        self.patch_size, self.tubelet = patch_size, tubelet
        self.patch_embed = nn.Conv3d(
            in_channels, spec.width, (tubelet, patch_size, patch_size), (tubelet, patch_size, patch_size)
        )
        self.register_buffer("pos", sincos_3d(spec.width, self.grid), persistent=False)
        self.blocks = nn.ModuleList(Block(spec.width, spec.heads) for _ in range(spec.depth))
        self.norm = nn.LayerNorm(spec.width)
        self.apply(_init_weights)

    @property
    def width(self) -> int:
        return self.spec.width

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def forward(self, clips: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """clips: [B, C, T, H, W]; keep: [B, K] token indices to encode (context) or None for all.
        Returns [B, K or N, D]."""
        x = self.patch_embed(clips).flatten(2).transpose(1, 2) + self.pos
        if keep is not None:
            x = gather_tokens(x, keep)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x: [B, N, D], index: [B, K] -> [B, K, D]."""
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv3d):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)
