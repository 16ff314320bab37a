"""A small dataset and a fast config for model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.params import load_params
from ultrasound.dataset import simulate_dataset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    simulate_dataset(root / "mini", 16, seed=4, workers=2)
    return root


@pytest.fixture
def fast_config(tiny_data: Path, tmp_path: Path):
    def make(**overrides):
        base = {
            "data.root": str(tiny_data), "data.dataset": "mini", "data.cache": str(tmp_path / "cache"),
            "data.frames": 8, "data.frame_step": 4, "data.resolution": 64, "data.batch_size": 4,
            "optimization.steps": 12, "optimization.warmup": 2, "optimization.checkpoint_every": 4,
        }  # fmt: skip
        return load_params("params.yaml", base | overrides).pretrain

    return make
