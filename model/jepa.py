"""V-JEPA pretraining: a context encoder on visible tokens, a narrow predictor with one mask token per
generator, an EMA target encoder on the full clip; L1 loss on layer-normed target features, averaged over
the two mask generators."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from model.config import PretrainConfig
from model.masks import BlockMaskSpec, multiblock_masks
from model.predictor import Predictor
from model.pretrain_module import PretrainModule, transformer_flops
from model.schedules import ema_momentum
from model.vision_transformer import VideoViT, gather_tokens


def build_encoder(config: PretrainConfig) -> VideoViT:
    m, d = config.model, config.data
    return VideoViT(
        preset=m.preset, frames=d.frames, resolution=d.resolution, patch_size=m.patch_size, tubelet=m.tubelet
    )


class JEPA(PretrainModule):
    def __init__(self, config: PretrainConfig) -> None:
        super().__init__(config)
        mc, mask = config.model, config.mask
        self.encoder = build_encoder(config)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_encoder.requires_grad_(False)
        self.generators = (
            BlockMaskSpec(mask.short_blocks, mask.short_scale, mask.aspect_ratio),
            BlockMaskSpec(mask.long_blocks, mask.long_scale, mask.aspect_ratio),
        )
        self.predictor = Predictor(
            encoder_width=self.encoder.width, grid=self.encoder.grid, width=mc.predictor_width,
            depth=mc.predictor_depth, heads=mc.predictor_heads, generators=len(self.generators),
        )  # fmt: skip

    def compute_loss(self, clips: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """clips: [B, 1, T, H, W] -> mean L1 between predicted and target features at the masked tokens."""
        with torch.no_grad():
            target = self.target_encoder(clips)
            target = F.layer_norm(target, target.shape[-1:])
        losses, ratios = [], []
        global_batch, mine = self.mask_share(clips.shape[0])
        for g, spec in enumerate(self.generators):
            ctx, tgt = multiblock_masks(spec, global_batch, self.encoder.grid, self.mask_rng)
            ctx, tgt = ctx[mine].to(clips.device), tgt[mine].to(clips.device)
            pred = self.predictor(self.encoder(clips, keep=ctx), ctx, tgt, g)
            losses.append((pred - gather_tokens(target, tgt)).abs().mean())
            ratios.append(tgt.shape[1] / self.encoder.num_tokens)
        return torch.stack(losses).mean(), {"mask_short": ratios[0], "mask_long": ratios[1]}

    @torch.no_grad()
    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        opt = self.config.optimization
        m = ema_momentum(self.global_step, opt.steps, start=opt.ema[0], end=opt.ema[1])
        self.update_target(m)
        self.log("train/ema", m, on_step=True)

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """target ← momentum · target + (1 − momentum) · encoder, parameter by parameter."""
        for p_target, p in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            p_target.mul_(momentum).add_(p.detach(), alpha=1 - momentum)

    def trainable_modules(self):
        return [self.encoder, self.predictor]

    def step_flops(self, batch: int) -> float:
        """Estimated FLOPs of one step (forward ×3 for forward + backward of trained parts)."""
        enc, n = self.encoder.spec, self.encoder.num_tokens
        pred = self.predictor
        width, depth = pred.embed.out_features, len(pred.blocks)
        total = transformer_flops(n, enc.width, enc.depth)  # target encoder, forward only
        for share in (0.38, 0.19):  # typical context shares of the two generators at 112 px
            ctx = int(share * n)
            total += 3 * transformer_flops(ctx, enc.width, enc.depth)
            total += 3 * transformer_flops(n, width, depth)
        return batch * total
