"""What JEPA and VideoMAE pretraining share: the optimiser and its schedules, the EMA-free step
bookkeeping, FLOP accounting and seeded mask randomness that survives a checkpoint."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from model.config import PretrainConfig
from model.schedules import learning_rate, weight_decay


def transformer_flops(tokens: int, width: int, depth: int) -> float:
    """Forward FLOPs of `depth` blocks on `tokens` tokens: 24·N·D² (projections, MLP) + 4·N²·D (attention)."""
    return depth * (24 * tokens * width**2 + 4 * tokens**2 * width)


class PretrainModule(L.LightningModule):
    """Subclasses define `compute_loss(clips) -> (loss, logs)` (or `batch_loss(batch)`) and `step_flops()`."""

    def __init__(self, config: PretrainConfig) -> None:
        super().__init__()
        self.config = config
        self.save_hyperparameters({"config": config.model_dump()})
        self.mask_rng = torch.Generator().manual_seed(config.optimization.seed)

    def compute_loss(self, clips: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def batch_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of a data-module batch; self-supervised methods only read its clips."""
        return self.compute_loss(batch["clips"])

    def mask_share(self, local_batch: int) -> tuple[int, slice]:
        """Masks are drawn for the global batch on every rank; this rank takes the samples that the
        distributed sampler gave it (global sample i lives on rank i mod world). So N processes train
        on exactly the masks one process would draw for the same global batch."""
        world = self.trainer.world_size if self._trainer is not None else 1
        rank = self.global_rank if self._trainer is not None else 0
        return local_batch * world, slice(rank, None, world)

    def step_flops(self, batch: int) -> float:
        raise NotImplementedError

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, logs = self.batch_loss(batch)
        # averaged over ranks, so the logged loss is the global batch's whatever the number of processes
        self.log(
            "train/loss",
            loss,
            prog_bar=True,
            on_step=True,
            batch_size=batch["clips"].shape[0],
            sync_dist=True,
        )
        for key, value in logs.items():
            self.log(f"train/{key}", value, on_step=True, batch_size=batch["clips"].shape[0])
        return loss

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        opt = self.config.optimization
        wd = weight_decay(self.global_step, opt.steps, start=opt.weight_decay[0], end=opt.weight_decay[1])
        for group in self.optimizers().optimizer.param_groups:
            if group["weight_decay"] > 0:
                group["weight_decay"] = wd

    def trainable_modules(self) -> list[nn.Module]:
        return [m for m in self.children() if any(p.requires_grad for p in m.parameters())]

    def configure_optimizers(self):
        opt = self.config.optimization
        decay, no_decay = [], []
        for module in self.trainable_modules():
            for p in module.parameters():
                if p.requires_grad:
                    (no_decay if p.ndim <= 1 else decay).append(p)  # no decay on biases, norms, tokens
        groups = [
            {"params": decay, "weight_decay": opt.weight_decay[0]},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=opt.lr, betas=(0.9, 0.999))

        def scale(step: int) -> float:
            peak = opt.lr
            return (
                learning_rate(
                    step, opt.steps, peak=peak, warmup=opt.warmup, final=opt.final_lr, start=opt.start_lr
                )
                / peak
            )

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, scale)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["mask_rng"] = self.mask_rng.get_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "mask_rng" in checkpoint:
            self.mask_rng.set_state(checkpoint["mask_rng"])
