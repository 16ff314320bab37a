"""The one probe protocol over a token cache: splits, label fractions, the served ensemble, and NotMeasured
for unsupported tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from config.params import load_params
from evaluation.probe_protocol import (
    fit_protocol,
    mark_repeated_fractions,
    protocol_rows,
    protocol_summary,
    score,
    task_report,
)
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


ONE_HEAD = {"probe.lr_grid": [], "probe.wd_grid": []}  # a config without the grid: today's single head


def test_fractions_count_training_rows_and_metrics_are_aggregated() -> None:
    tokens, frame = _cache(["A4C", "A2C"])
    result = fit_protocol(tokens, frame, _probe(**ONE_HEAD), time_steps=0)
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


def test_a_grid_of_heads_fits_on_train_and_serves_the_head_best_on_val() -> None:
    from model.probe_artifact import TASK_KINDS
    from model.probes import fit_probe_heads

    tokens, frame = _cache(["A4C", "A2C"])
    config = _probe(**{"probe.fractions": [0.1, 1.0]})
    assert config.grid() == ((0.001, 0.01), (0.001, 0.1), (0.0003, 0.01), (0.0003, 0.1))  # params.yaml
    result = fit_protocol(tokens, frame, config, time_steps=0)
    ef, view = result.tasks["ef"], result.tasks["view"]
    assert ef.by_fraction["1"]["train_examples"] == 40  # TRAIN only: VAL selects, it does not fit
    for task in (ef, view):
        for member in task.ensemble.members:
            chosen = member.selection
            assert chosen["val_examples"] == 5 and len(chosen["heads"]) == 4
            assert chosen["metric"] == ("val_mae" if task.task == "ef" else "val_accuracy")
            values = [h["value"] for h in chosen["heads"]]
            best = min(values) if task.task == "ef" else max(values)
            assert chosen["value"] == best and values.index(best) == [
                (h["lr"], h["weight_decay"]) for h in chosen["heads"]
            ].index((chosen["lr"], chosen["weight_decay"]))  # the first best head, in grid order
            assert (member.spec.lr, member.spec.weight_decay) == (chosen["lr"], chosen["weight_decay"])
    # the served head is exactly that head of the one-pass grid fit on the TRAIN rows
    member = ef.ensemble.members[0]
    train = np.flatnonzero(frame.Split == "TRAIN")
    heads, _, _ = fit_probe_heads(
        tokens[train], frame.EF.to_numpy()[train], TASK_KINDS["ef"], result.spec, 0, 0, config.grid()
    )
    refit = heads[config.grid().index((member.spec.lr, member.spec.weight_decay))].state_dict()
    assert all(torch.equal(refit[k], v) for k, v in member.state_dict.items())
    # the report says which head each served probe is
    report = task_report(ef)
    assert [s["seed"] for s in report["selection"]] == [0, 1]
    assert report["selection"][0]["metric"] == "val_mae"


def test_rows_fit_and_select_by_the_number_of_heads() -> None:
    _, frame = _cache(["A4C"])
    grid, single = protocol_rows(frame, _probe()), protocol_rows(frame, _probe(**ONE_HEAD))
    assert (grid.fit_on, int(grid.fit.sum()), int(grid.select.sum())) == ("TRAIN", 40, 5)
    assert (single.fit_on, int(single.fit.sum()), int(single.select.sum())) == ("TRAIN+VAL", 45, 0)
    assert grid.test.sum() == single.test.sum() == 15
    assert protocol_summary(_probe())["text"] == (
        "probe: attentive depth 1, 4 heads (2 lr × 2 wd grid), selected on VAL"
    )
    assert protocol_summary(_probe(**ONE_HEAD))["text"] == (
        "probe: attentive depth 1, 1 head (lr 0.001, wd 0.01), fitted on TRAIN+VAL"
    )


def test_a_grid_without_labelled_val_studies_is_not_measured() -> None:
    tokens, frame = _cache(["A4C", "A2C"])
    frame = frame.assign(Split=frame.Split.replace("VAL", "TRAIN"))
    result = fit_protocol(tokens, frame, _probe(**{"probe.tasks": ["ef"]}), time_steps=0)
    assert isinstance(result.tasks["ef"], NotMeasured) and "no labelled VAL" in result.tasks["ef"].reason
