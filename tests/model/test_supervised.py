"""The supervised-from-scratch baseline: labelled clips, a multi-task loss that falls, gradients reaching
the encoder, and a clear error on data without EF labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from model.supervised import LabelledDataModule, Supervised, label_table
from model.train import build_module, pretrain


def test_labelled_clips_carry_their_study_targets(fast_config) -> None:
    config = fast_config(**{"optimization.method": "supervised"})
    table, views, mean, std = label_table(config)
    assert set(table.Split) == {"TRAIN"} and len(views) >= 2
    data = LabelledDataModule(config, steps_per_epoch=2)
    data.prepare_data()
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert batch["clips"].shape == (4, 1, 8, 64, 64)
    for position, ef_z, view in zip(batch["position"], batch["ef_z"], batch["view"], strict=True):
        row = table.iloc[data.train.video_at(int(position))]
        assert float(ef_z) == pytest.approx((row.EF - mean) / std, abs=1e-5)
        assert views[int(view)] == row.View


def test_training_lowers_the_loss_and_trains_the_encoder(fast_config, tmp_path: Path) -> None:
    config = fast_config(**{"optimization.method": "supervised", "optimization.steps": 24})
    module = build_module(config)  # seeded: the same initial weights as the run's
    before = {k: v.clone() for k, v in module.encoder.state_dict().items()}
    metrics = pretrain(config, tmp_path / "run", progress=False)
    assert metrics["method"] == "supervised" and metrics["steps"] == 24
    assert metrics["final_loss"] < metrics["first_loss"]
    trained = torch.load(tmp_path / "run" / "encoder.pt")
    changed = [k for k in before if not torch.equal(before[k], trained[k])]
    assert len(changed) > len(before) // 2  # the encoder itself learned, not only the head
    assert metrics["flops_per_step"] == pytest.approx(module.step_flops(config.data.batch_size))
    losses = pd.read_csv(tmp_path / "run" / "loss.csv")
    assert len(losses) == 24 and np.isfinite(losses.loss).all()


def test_no_labelled_training_studies_is_a_clear_error(fast_config, tiny_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "raw" / "nolabels"
    shutil.copytree(tiny_data / "mini", folder)
    table = pd.read_csv(folder / "FileList.csv")
    table["EF"] = np.nan
    table.to_csv(folder / "FileList.csv", index=False)
    where = {"data.root": str(tmp_path / "raw"), "data.dataset": "nolabels"}
    config = fast_config(**{"optimization.method": "supervised"} | where)
    with pytest.raises(ValueError, match="fewer than 2 TRAIN studies with an EF label"):
        Supervised(config)
