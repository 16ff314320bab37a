"""The one probe protocol over a token cache: splits, label fractions, the served ensemble, and NotMeasured
for unsupported tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from config.params import load_params
from evaluation.probe_protocol import fit_protocol, mark_repeated_fractions, score
from evaluation.results import NotMeasured
from tests.packaged import REPO


def _cache(views: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 60
    tokens = rng.normal(0, 1, (n, 2, 10, 8)).astype(np.float16)
    split = ["TRAIN"] * 40 + ["VAL"] * 5 + ["TEST"] * 15
    frame = pd.DataFrame(
        {"FileName": [f"s{i}" for i in range(n)], "EF": rng.uniform(10, 80, n), "View": rng.choice(views, n),
         "Split": split}
    )  # fmt: skip
    return tokens, frame


def _probe(**overrides):
    settings = {"probe.epochs": 2, "probe.seeds": [0, 1], "probe.fractions": [0.1, 1.0]} | overrides
    return load_params(REPO / "params.yaml", settings).probe


def test_fractions_count_training_rows_and_metrics_are_aggregated() -> None:
    tokens, frame = _cache(["A4C", "A2C"])
    result = fit_protocol(tokens, frame, _probe(), time_steps=0)
    ef, view = result.tasks["ef"], result.tasks["view"]
    assert ef.by_fraction["1"]["train_examples"] == 45 and view.by_fraction["1"]["train_examples"] == 45
    assert ef.by_fraction["0.1"]["train_examples"] == 20  # 2 per EF decile: the floor
    assert view.by_fraction["0.1"]["train_examples"] == 4  # 2 per view
    assert set(ef.by_fraction["1"]) == {"mae", "rmse", "r2", "train_examples"}
    assert set(view.by_fraction["1"]) == {"accuracy", "macro_f1", "train_examples"}
    assert ef.by_fraction["1"]["mae"]["std"] >= 0 and 0 <= view.by_fraction["1"]["accuracy"]["mean"] <= 1
    # the served ensemble: one probe per seed, its value is the mean of their outputs
    assert ef.ensemble.seeds == (0, 1) and ef.per_seed.shape == (2, 15)
    served = np.abs(ef.per_seed.mean(0) - ef.true).mean()
    assert ef.metrics["mae"]["value"] == pytest.approx(served)
    assert ef.metrics["mae"]["mean"] == pytest.approx(ef.by_fraction["1"]["mae"]["mean"])


def test_scoring_the_saved_files_gives_the_numbers_the_stage_reported(tmp_path) -> None:
    from model.probe_artifact import ProbeEnsemble

    tokens, frame = _cache(["A4C", "A2C"])
    result = fit_protocol(tokens, frame, _probe(), time_steps=0)
    for task, ensemble in result.ensembles().items():
        ensemble.save_dir(tmp_path / task)
        again = score(ProbeEnsemble.load_dir(tmp_path / task), tokens, frame)
        for metric, summary in result.tasks[task].metrics.items():
            assert again.metrics[metric] == pytest.approx(summary, rel=1e-6)


def test_view_task_is_not_measured_with_one_view() -> None:
    tokens, frame = _cache(["A4C"])
    result = fit_protocol(tokens, frame, _probe(**{"probe.tasks": ["view"], "probe.fractions": [1.0]}), 0)
    assert isinstance(result.tasks["view"], NotMeasured)
    assert "fewer than two views" in result.tasks["view"].reason


def test_fractions_that_train_on_the_same_rows_are_marked_once() -> None:
    rows = {"0.01": {"train_examples": 20}, "0.1": {"train_examples": 20}, "1": {"train_examples": 45}}
    marked = mark_repeated_fractions(rows)
    assert marked["0.01"]["same_rows_as"] == "0.1" and "same_rows_as" not in marked["0.1"]
