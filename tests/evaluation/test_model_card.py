"""The model card renders every section from a report, marks gates pass/fail, and says "n/a — reason" for
what was not measured; evaluation.json follows its schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from config.params import load_params
from evaluation.gates import GATE_NAMES, check_gates
from evaluation.model_card import render, write_report
from evaluation.report_schema import check_report
from evaluation.results import NotMeasured, jsonable
from tests.packaged import REPO


def ms(mean: float, std: float = 0.1) -> dict:
    return {"value": mean, "mean": mean, "std": std}


def _report() -> dict:
    rng = np.random.default_rng(0)
    actual = rng.uniform(20, 75, 30)
    views = ["A2C", "A4C", "PSAX"]
    settings = [
        {"kind": k, "severity": s, "ef_mae": ms(8.0 + i), "relative_increase": i / 8.0}
        for i, (k, s) in enumerate(
            (k, s) for k in ("depth_attenuation", "gaussian_shadow") for s in ("low", "high")
        )
    ]
    report = {
        "metrics": {
            "ef_mae": ms(8.0), "ef_rmse": ms(10.0), "ef_r2": ms(0.4), "view_accuracy": ms(0.7),
            "view_macro_f1": ms(0.6),
            "robustness_mean_increase": 0.1, "robustness_worst_increase": 0.38,
            "pediatric_ef_mae": ms(12.0), "n_test": 30, "n_test_labelled": 30,
            "label_efficiency": {"view_accuracy": {"0.01": ms(0.4) | {"train_examples": 10},
                                                   "1": ms(0.7) | {"train_examples": 200}}},
        },
        "baselines": {
            "random_init": {"ef_mae": ms(9.0), "ef_rmse": ms(11.0), "ef_r2": ms(0.1),
                            "view_accuracy": ms(0.5),
                            "view_macro_f1": ms(0.4), "label_efficiency": {}},
            "mean_predictor": {"ef_mae": 10.7, "train_mean": 55.0, "fit_on": "TRAIN"},
            "pixel": {"best": "tubelet", "fit_on": "TRAIN", "n_fit": 200, "features": "computed",
                      "estimators": {
                          name: {"ef_mae": mae, "ef_rmse": mae + 2, "tuned": {"alpha": 10.0},
                                 "ef_predictions": {"FileName": ["v0", "v1"], "true": [50.0, 60.0],
                                                    "predicted": [52.0, 57.0]}}
                          for name, mae in (("tubelet", 7.5), ("std_map", 9.1), ("dark_area", 10.2))}},
        },
        "probe_protocol": {
            "kind": "attentive", "depth": 1, "heads": 4, "fit_on": "TRAIN", "selected_on": "VAL",
            "grid": [[0.001, 0.01], [0.001, 0.1], [0.0003, 0.01], [0.0003, 0.1]], "temporal_contrast": False,
            "text": "probe: attentive depth 1, 4 heads (2 lr × 2 wd grid), selected on VAL",
        },
        "tasks": {"ef": {"selection": [{"seed": 0, "lr": 0.0003, "weight_decay": 0.1, "metric": "val_mae",
                                        "value": 7.25, "val_examples": 40}]}},
        "comparisons": {
            "ef_mae_vs_best_pixel_baseline": {
                "difference": 0.5, "low": -0.4, "high": 1.3, "n": 30, "level": 0.95, "excludes_zero": False,
                "candidate_mae": 8.0, "baseline_mae": 7.5, "baseline": "tubelet", "text": "…",
            },
        },
        "subgroups": {
            "reduced_ef": {"threshold": 40.0, "n": 5, "n_total": 30, "ef_mae": ms(14.0),
                           "auroc": NotMeasured("one class only")},
            "device": {"sim-a": {"n": 30, "ef_mae": ms(8.0)}},
            "cohort": NotMeasured("no Cohort column"),
        },
        "robustness": {
            "clean_ef_mae": ms(8.0), "settings": settings, "mean_increase": 0.1, "worst_increase": 0.38,
        },
        "probes": {"ef/seed-0.pt": "a" * 64},
        "pediatric": {"dataset": "synthetic-pediatric", "n": 60, "ef_mae": ms(12.0)},
        "predictions": {
            "ef": {"FileName": [f"v{i}" for i in range(30)], "actual": actual.tolist(),
                   "predicted": (actual + rng.normal(0, 5, 30)).tolist()},
            "view": {"FileName": [f"v{i}" for i in range(30)], "actual": rng.choice(views, 30).tolist(),
                     "predicted": rng.choice(views, 30).tolist(), "labels": views},
        },
        "data_version": "data-abc123", "model_version": "jepa-tiny-7",
        "test_set": {"n": 30, "sha256": "f00"}, "timing": {"total": 42.0},
        "effective_rank": {
            "clips": 70, "split": "VAL+TEST", "width": 96, "encoder": "models/jepa-tiny/encoder.pt",
            "served": {"pooled": 1.7, "tokens": 33.5}, "target_encoder": {"pooled": 1.81, "tokens": 38.36},
            "random_init": {"pooled": 4.8, "tokens": 64.59},
            "by_step": [{"step": 100, "encoder": "encoder", "pooled": 1.38, "tokens": 28.66, "clips": 70}],
        },
    }  # fmt: skip
    gates = load_params(REPO / "params.yaml").gates.model_copy(update={"view_accuracy_min": 0.8})
    report["gates"] = check_gates(report, gates, None)
    return report


def test_the_card_holds_plots_gates_tables_and_versions() -> None:
    page = render(_report())
    assert page.count('<img alt="') == 5 and page.count("data:image/png;base64,") == 5
    for name in GATE_NAMES:
        assert f"<td>{name}</td>" in page
    assert page.count('<tr class="fail">') == 1  # view_accuracy 0.7 < 0.8
    assert page.count('<tr class="advisory unmeasured">') == 3  # cohort AUROC, no regression (first release)
    assert "view_accuracy: 0.7 &lt; 0.8" in page and "1 GATE(S) BLOCK" in page
    assert "8 passed, 1 failed, 3 not measured (1 blocks the release)" in page
    for text in (
        "data-abc123",
        "jepa-tiny-7",
        "sim-a",
        "random-init frozen encoder",
        "mean predictor",
        "EF &lt; 40",
    ):
        assert text in page
    assert "<script" not in page and "http" not in page.split("</style>")[1]  # self-contained


def test_the_card_shows_the_collapse_monitor_and_its_gate() -> None:
    report = _report()
    page = render(report)
    section = page.split("<h2>Collapse monitor (effective rank)</h2>")[1].split("<h2>")[0]
    assert "on 70 held-out (VAL+TEST) clips" in section and "at most 96" in section
    for cells in (
        ("served encoder", "33.5", "1.7"),
        ("EMA target", "38.36", "1.81"),
        ("random-init", "64.59", "4.8"),
    ):
        row = next(r for r in section.split("<tr") if cells[0] in r)
        assert all(f"<td>{c}</td>" in row for c in cells[1:]), row
    assert "<td>100</td><td>encoder</td><td>28.66</td>" in section  # the pretraining checkpoint
    gate = next(r for r in page.split("<tr") if "<td>effective_rank</td>" in r)
    assert 'class="pass"' in gate and "max(0.5 × random-init 64.59, floor 4)" in gate
    # the tiny preset's served context encoder (23.6) fails the bar 0.5 × 64.59
    report["effective_rank"]["served"]["tokens"] = 23.6
    report["gates"] = check_gates(report, load_params(REPO / "params.yaml").gates, None)
    assert "effective_rank: 23.6 &lt; 32.3" in render(report)
    # a report written before the monitor, or one whose clips were too few
    older = {k: v for k, v in _report().items() if k != "effective_rank"}
    assert "not recorded (a report older than the collapse monitor)" in render(older)
    few = _report() | {
        "effective_rank": NotMeasured("1 held-out (VAL+TEST) clip(s); RankMe needs at least 2")
    }
    assert "n/a — 1 held-out (VAL+TEST) clip(s)" in render(few)
    check_report(jsonable(few))


def test_missing_results_render_as_na_instead_of_failing() -> None:
    report = _report()
    report["predictions"] = {}
    report["robustness"] = NotMeasured("too few labelled studies")
    report["metrics"]["label_efficiency"] = {}
    page = render(report)
    assert "<img" not in page and page.count('class="na">n/a — ') >= 2
    assert "n/a — one class only" in page and "n/a — no Cohort column" in page


def test_write_report_writes_strict_json_and_the_card(tmp_path: Path) -> None:
    report = _report()
    report["metrics"]["ef_r2"] = ms(math.nan)
    json_path, html_path = write_report(report, tmp_path / "reports")
    assert json_path.name == "evaluation.json" and html_path.name == "model_card.html"
    loaded = json.loads(json_path.read_text(), parse_constant=lambda c: pytest_fail(c))
    assert loaded["metrics"]["ef_r2"] == {"value": None, "reason": "not finite"}
    assert loaded["gates"] == [g.to_json() for g in report["gates"]]
    check_report(loaded)  # the file follows the schema
    assert html_path.read_text().startswith("<!DOCTYPE html>")


def pytest_fail(constant: str):
    raise AssertionError(f"evaluation.json holds {constant}")


def test_the_schema_refuses_a_string_where_a_number_belongs() -> None:
    report = jsonable(_report())
    check_report(report)
    for path, bad in (
        (("metrics", "ef_mae"), "n/a (too few labelled studies)"),
        (("metrics", "robustness_mean_increase"), "n/a"),
        (("baselines", "mean_predictor", "ef_mae"), "n/a (no labelled TRAIN)"),
        (("metrics", "view_accuracy"), {"value": None}),  # not measured needs its reason
    ):
        broken = json.loads(json.dumps(report))
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = bad
        with pytest.raises(ValueError, match=".".join(path[:2])):
            check_report(broken)
    broken = json.loads(json.dumps(report))
    broken["gates"][0]["blocks"] = not broken["gates"][0]["blocks"]
    with pytest.raises(ValueError, match="blocks"):
        check_report(broken)


def test_the_card_shows_the_probe_protocol_and_the_pixel_baselines() -> None:
    report = _report()
    page = render(report)
    line = "probe: attentive depth 1, 4 heads (2 lr × 2 wd grid), selected on VAL."
    assert page.count(line) == 2  # beside the metrics and the baselines tables
    assert "ef seed 0: lr 0.0003, wd 0.1 (val_mae 7.25)" in page
    baselines = page.split("<h2>Baselines of the same run</h2>")[1].split("<h2>")[0]
    assert "pixel: ridge on tubelet grey-level statistics (best), fitted on TRAIN" in baselines
    assert "<td>7.5</td>" in baselines and "<td>10.2</td>" in baselines
    assert "vs the best pixel baseline (tubelet): EF MAE difference" in baselines
    assert "+0.50 [-0.40, +1.30]" in baselines and "the interval includes zero" in baselines
    check_report(jsonable(report))
    # a report older than the probe selection and the pixel baselines still renders
    older = {k: v for k, v in report.items() if k not in ("probe_protocol", "tasks", "comparisons")}
    older["baselines"] = {k: v for k, v in report["baselines"].items() if k != "pixel"}
    assert "selected on VAL" not in render(older) and "pixel:" not in render(older)
    check_report(jsonable(older))
