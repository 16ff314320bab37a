"""Probe evaluation over a token cache: splits, label fractions, and "n/a" for unsupported tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.probe_eval import evaluate_probes
from model.probes import ProbeSpec


def _cache(folder: Path, views: list[str]) -> Path:
    rng = np.random.default_rng(0)
    n = 60
    np.save(folder / "tokens.npy", rng.normal(0, 1, (n, 2, 10, 8)).astype(np.float16))
    split = ["TRAIN"] * 40 + ["VAL"] * 5 + ["TEST"] * 15
    frame = pd.DataFrame({"EF": rng.uniform(10, 80, n), "View": rng.choice(views, n), "Split": split})
    frame.to_csv(folder / "index.csv", index=False)
    return folder


def test_fractions_count_training_rows_and_metrics_are_aggregated(tmp_path: Path) -> None:
    results = evaluate_probes(
        _cache(tmp_path, ["A4C", "A2C"]), fractions=(0.1, 1.0), seeds=(0, 1), spec=ProbeSpec(epochs=2)
    )
    ef, view = results["tasks"]["ef"], results["tasks"]["view"]
    assert ef["1"]["train_examples"] == 45 and view["1"]["train_examples"] == 45  # TRAIN + VAL, never TEST
    assert ef["0.1"]["train_examples"] == 20  # 2 per EF decile: the floor
    assert view["0.1"]["train_examples"] == 4  # 2 per view
    assert set(ef["1"]) == {"mae", "rmse", "r2", "train_examples"}
    assert set(view["1"]) == {"accuracy", "macro_f1", "train_examples"}
    assert ef["1"]["mae"]["std"] >= 0 and 0 <= view["1"]["accuracy"]["mean"] <= 1


def test_view_task_is_na_with_one_view(tmp_path: Path) -> None:
    results = evaluate_probes(_cache(tmp_path, ["A4C"]), tasks=("view",), fractions=(1.0,), seeds=(0,))
    assert results["tasks"]["view"].startswith("n/a")
