"""The probe stage refuses, in one line and before touching the served probes, data on which no EF probe can
be fitted (every served model needs one): e.g. an export whose split has no TEST study."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.params import load_params
from evaluation.probe_stage import run_probe_stage

REPO = Path(__file__).resolve().parents[2]


def test_no_fittable_ef_probe_is_one_line_and_keeps_the_served_probes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", {"data.dataset": "export", "evaluate.pediatric_dataset": None})
    layout = params.layout()
    layout.embeddings_dir.mkdir(parents=True)
    np.save(layout.embeddings_dir / "tokens.npy", np.zeros((12, 1, 4, 8), dtype=np.float32))
    frame = pd.DataFrame({
        "FileName": [f"0X{i:016X}" for i in range(12)], "EF": np.linspace(30, 70, 12),
        "View": "A4C", "Split": ["TRAIN"] * 10 + ["VAL"] * 2,  # no TEST study
    })  # fmt: skip
    served = layout.probes_dir / "ef" / "seed-0.pt"
    served.parent.mkdir(parents=True)
    served.write_bytes(b"the probe production serves")
    with pytest.raises(ValueError) as refused:
        run_probe_stage(params, lambda _: frame)
    message = str(refused.value)
    assert message.startswith("no EF probe could be fitted: ") and "0 TEST" in message and "\n" not in message
    assert served.read_bytes() == b"the probe production serves"
    assert os.listdir(layout.probes_dir) == ["ef"]


def test_label_efficiency_skips_a_task_the_probe_stage_could_not_measure() -> None:
    """Single-view data: metrics.json holds view as {value: null, reason}; the curve has EF only."""
    from evaluation.probe_protocol import label_efficiency

    row = {"mae": {"value": 7.0, "mean": 7.1, "std": 0.2}, "train_examples": 24}
    tasks = {
        "ef": {"by_fraction": {"1": row}},
        "view": {"value": None, "reason": "fewer than two views (A4C)"},
    }
    assert label_efficiency(tasks) == {"ef_mae": {"1": {"value": 7.0, "mean": 7.1, "std": 0.2,
                                                         "train_examples": 24}}}  # fmt: skip
