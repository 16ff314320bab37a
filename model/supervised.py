"""The supervised-from-scratch baseline: the same video encoder trained end to end, from random weights, on
the labelled TRAIN studies (z-scored EF regression + view classification through an attentive head), at the
same steps and batch as the self-supervised methods. Its encoder is then frozen and probed like theirs, so
the seed table compares representations under one protocol (EchoPrime and PanEcho, the paper's supervised
references, are evaluated the same way).

    echojepa pretrain --set optimization.method=supervised --out models/supervised-tiny
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from config.layout import DataLayout
from model.config import PretrainConfig
from model.data import ClipDataset, EchoDataModule
from model.jepa import build_encoder
from model.pretrain_module import PretrainModule, transformer_flops
from model.probes import AttentiveProbe
from model.vision_transformer import _init_weights


def label_table(config: PretrainConfig) -> tuple[pd.DataFrame, list[str], float, float]:
    """The TRAIN rows of the run's manifest (all of them: the view head learns from studies without an EF
    label too), the view names, and the EF mean and std of the labelled ones."""
    manifest = DataLayout.from_data(config.data).manifest
    table = pd.read_csv(manifest)
    if "Split" in table:
        table = table[table.Split.astype(str).str.upper() == "TRAIN"]
    ef = (
        pd.to_numeric(table["EF"], errors="coerce") if "EF" in table else pd.Series(np.nan, index=table.index)
    )
    if ef.notna().sum() < 2:
        raise ValueError(f"{manifest}: fewer than 2 TRAIN studies with an EF label to supervise on")
    table = table.assign(EF=ef)
    views = sorted(table.View.astype(str).unique()) if "View" in table else ["A4C"]
    return table, views, float(ef.mean()), float(ef.std() + 1e-6)


class LabelledClipDataset(ClipDataset):
    """ClipDataset items plus the study's z-scored EF and view index."""

    def __init__(self, ef_z: np.ndarray, views: np.ndarray, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ef_z, self.views = ef_z.astype(np.float32), views.astype(np.int64)

    def __getitem__(self, j: int) -> dict:
        item = super().__getitem__(j)
        video = self.video_at(self.start + j)
        return item | {"ef_z": self.ef_z[video], "view": self.views[video]}


class LabelledDataModule(EchoDataModule):
    """EchoDataModule over the labelled TRAIN studies only, with their targets."""

    def __init__(self, config: PretrainConfig, steps_per_epoch: int) -> None:
        super().__init__(config.data, config.data_aug, config.optimization.seed, steps_per_epoch)
        self.config = config

    def setup(self, stage: str | None = None) -> None:
        table, views, mean, std = label_table(self.config)
        view_index = {v: i for i, v in enumerate(views)}
        view = (table.View.astype(str) if "View" in table else pd.Series("A4C", index=table.index)).map(
            view_index
        )
        world = self.trainer.world_size if self.trainer else 1
        self.train = LabelledClipDataset(
            ((table.EF.astype(float) - mean) / std).to_numpy(), view.to_numpy(), Path(self.cache_dir),
            list(table.FileName), self.data, self.aug, self.seed,
            self.steps_per_epoch * self.data.batch_size * world,
        )  # fmt: skip


class Supervised(PretrainModule):
    """Encoder + attentive head [EF, view logits]; loss = smooth-L1(z-EF) + cross-entropy(view)."""

    def __init__(self, config: PretrainConfig) -> None:
        super().__init__(config)
        _, views, mean, std = label_table(config)
        self.views, self.ef_mean, self.ef_std = views, mean, std
        self.encoder = build_encoder(config)
        time_steps = config.data.frames // config.model.tubelet
        self.head = AttentiveProbe(
            self.encoder.width, 1 + len(views), depth=1, heads=4, time_steps=time_steps
        )
        self.head.apply(_init_weights)

    def batch_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        out = self.head(self.encoder(batch["clips"]))
        ef_z = batch["ef_z"].float()
        labelled = torch.isfinite(ef_z)  # studies without an EF label train the view head only
        if labelled.any():
            ef_loss = F.smooth_l1_loss(out[labelled, 0], ef_z[labelled])
            ef_mae = (out[labelled, 0].detach() - ef_z[labelled]).abs().mean() * self.ef_std
        else:  # keeps every parameter in the graph (DDP) with a zero EF term
            ef_loss, ef_mae = out[:, 0].sum() * 0.0, torch.tensor(float("nan"))
        logits = out[:, 1:]
        view_loss = F.cross_entropy(logits, batch["view"]) if logits.shape[1] > 1 else out.new_zeros(())
        logs = {"ef_loss": float(ef_loss.detach()), "view_loss": float(view_loss.detach())}
        return ef_loss + view_loss, logs | {"ef_mae_train": float(ef_mae)}

    def compute_loss(self, clips: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        raise TypeError("supervised training needs labels: call batch_loss with a LabelledDataModule batch")

    def trainable_modules(self):
        return [self.encoder, self.head]

    def step_flops(self, batch: int) -> float:
        """Forward + backward (×3) of the encoder on every token; the head is negligible."""
        enc = self.encoder.spec
        return batch * 3 * transformer_flops(self.encoder.num_tokens, enc.width, enc.depth)
