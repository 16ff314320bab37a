"""VideoMAE, the pixel-reconstruction baseline: the same encoder on the visible 10 % of spatial positions
(tube masking, ratio 0.9), a light decoder, MSE on per-patch normalised pixels of the masked tubes."""

from __future__ import annotations

import torch
from torch import nn

from model.config import PretrainConfig
from model.jepa import build_encoder
from model.masks import tube_masks
from model.pretrain_module import PretrainModule, transformer_flops
from model.vision_transformer import Block, _init_weights, gather_tokens, sincos_3d


def patchify(clips: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, N, tubelet·patch·patch·C] in the encoder's token order (t, h, w)."""
    b, c, t, h, w = clips.shape
    x = clips.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(b, (t // tubelet) * (h // patch) * (w // patch), -1)


class VideoMAE(PretrainModule):
    def __init__(self, config: PretrainConfig) -> None:
        super().__init__(config)
        mc = config.model
        self.encoder = build_encoder(config)
        width = mc.decoder_width
        self.decoder_embed = nn.Linear(self.encoder.width, width)
        self.mask_token = nn.Parameter(torch.zeros(width))
        self.register_buffer("decoder_pos", sincos_3d(width, self.encoder.grid), persistent=False)
        self.decoder = nn.ModuleList(Block(width, max(1, width // 32)) for _ in range(mc.decoder_depth))
        self.decoder_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, mc.tubelet * mc.patch_size**2)
        self.apply(_init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def compute_loss(self, clips: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """clips: [B, 1, T, H, W] -> MSE on normalised pixels of the masked tubes."""
        b = clips.shape[0]
        global_batch, mine = self.mask_share(b)
        vis, msk = tube_masks(self.config.mask.tube_ratio, global_batch, self.encoder.grid, self.mask_rng)
        vis, msk = vis[mine].to(clips.device), msk[mine].to(clips.device)
        pos = self.decoder_pos.expand(b, -1, -1)
        x = torch.cat(
            [
                self.decoder_embed(self.encoder(clips, keep=vis)) + gather_tokens(pos, vis),
                self.mask_token.expand(b, msk.shape[1], -1) + gather_tokens(pos, msk),
            ],
            dim=1,
        )
        for block in self.decoder:
            x = block(x)
        pred = self.head(self.decoder_norm(x[:, vis.shape[1] :]))
        target = gather_tokens(patchify(clips, self.encoder.tubelet, self.encoder.patch_size), msk)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        return ((pred - target) ** 2).mean(), {"mask_ratio": msk.shape[1] / self.encoder.num_tokens}

    def step_flops(self, batch: int) -> float:
        enc, n = self.encoder.spec, self.encoder.num_tokens
        visible = int((1 - self.config.mask.tube_ratio) * n)
        width, depth = self.decoder_embed.out_features, len(self.decoder)
        return (
            batch
            * 3
            * (transformer_flops(visible, enc.width, enc.depth) + transformer_flops(n, width, depth))
        )
