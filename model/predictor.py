"""JEPA predictor: a narrow transformer that sees the context tokens and one learnable mask token per mask
generator (zero-initialised) at each target position, and predicts the target encoder's features there."""

from __future__ import annotations

import torch
from torch import nn

from model.vision_transformer import Block, _init_weights, gather_tokens, sincos_3d


class Predictor(nn.Module):
    def __init__(
        self,
        *,
        encoder_width: int,
        grid: tuple[int, int, int],
        width: int = 96,
        depth: int = 4,
        heads: int = 4,
        generators: int = 2,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(encoder_width, width)
        self.register_buffer("pos", sincos_3d(width, grid), persistent=False)
        self.mask_tokens = nn.Parameter(torch.zeros(generators, width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, encoder_width)
        self.apply(_init_weights)
        nn.init.zeros_(self.mask_tokens)

    def forward(
        self, context: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor, generator: int
    ) -> torch.Tensor:
        """context: [B, Nc, De] encoder outputs at context_idx [B, Nc]; target_idx: [B, Nt].
        Returns predicted target features [B, Nt, De]."""
        b, n_tgt = target_idx.shape
        pos = self.pos.expand(b, -1, -1)
        ctx = self.embed(context) + gather_tokens(pos, context_idx)
        tgt = self.mask_tokens[generator].expand(b, n_tgt, -1) + gather_tokens(pos, target_idx)
        x = torch.cat([ctx, tgt], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x[:, -n_tgt:]))
