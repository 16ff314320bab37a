"""The demo's printed pieces, built from a fake run layout holding the JSON files the pipeline writes
(shapes as evaluation/probe_stage.py, evaluation/gates.py, model/train.py and data_contracts write them).
The demo itself (dvc repro, servers, traffic) is not run here: it takes minutes of both cores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.params import Params, load_params
from demo.report import (
    DemoLayout,
    ProductionOutcome,
    Released,
    gates_line,
    results_rows,
    times_rows,
    where_production,
    where_to_look,
    write_times,
)
from evaluation.gates import Direction, GateResult
from evaluation.results import NotMeasured, jsonable, summary

ROOT = Path(__file__).resolve().parents[2]
GATES = [
    GateResult("ef_mae", 7.0, 10.0, Direction.AT_MOST, True),
    GateResult("ef_mae_margin_over_random_init", 0.01, 0.05, Direction.AT_LEAST, False),
    GateResult("view_accuracy", NotMeasured("fewer than two views (A4C)"), 0.5, Direction.AT_LEAST, False),
    GateResult("pediatric_ef_mae", 16.5, 15.0, Direction.AT_MOST, False, advisory=True),
]


@pytest.fixture
def params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Params:
    """params.yaml with another dataset, run and ledger than the defaults, in an empty working folder:
    any path the demo hard-coded would show up as the default's."""
    monkeypatch.chdir(tmp_path)
    overrides = {"data.dataset": "clinic-a", "model.preset": "small", "release.ledger": "books/ledger.jsonl",
                 "serving.production_log": "prod-log", "evaluate.pediatric_dataset": None}  # fmt: skip
    return load_params(ROOT / "params.yaml", overrides)


def _write(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj)))


def _fraction(mean: float, std: float, rows: int, **extra: str) -> dict:
    return {"mae": {"value": mean, "mean": mean, "std": std}, "train_examples": rows, **extra}


def write_run(params: Params) -> None:
    """The files a finished pipeline leaves in the layout (a NaN first loss: too few steps logged)."""
    layout = params.layout()
    validation = {"rows_in": 300, "accepted": 297, "quarantined": 3}
    _write(layout.data.validation_reports / "summary.json", validation)
    pretrain = {"steps": 300, "first_loss": float("nan"), "final_loss": 0.4219, "seconds": 151.6}
    layout.pretrain_metrics.parent.mkdir(parents=True)
    layout.pretrain_metrics.write_text(json.dumps(pretrain))  # json writes NaN, as model/train.py does
    ef = {
        "metrics": {"mae": summary([7.3, 7.1, 7.2], served=6.912)},
        "by_fraction": {"0.1": _fraction(9.5, 0.4, 24, same_rows_as="0.5"), "0.5": _fraction(9.5, 0.4, 24),
                        "1": _fraction(7.2, 0.08165, 240)},
        "seeds": [0, 1, 2], "n_test": 30,
    }  # fmt: skip
    tasks = {"ef": ef, "view": NotMeasured("fewer than two views (A4C)")}
    _write(layout.probe_metrics, {"tasks": tasks})
    _write(layout.evaluation, {"gates": GATES})


def test_results_rows_read_every_stage_from_the_layout(params: Params) -> None:
    write_run(params)
    rows = dict(results_rows(params.layout()))
    assert rows["validate"] == "300 rows: 297 accepted, 3 quarantined"
    assert rows["pretrain"] == "300 steps, loss n/a — not finite → 0.422, 152 s"
    assert rows["probe ef (mae, TEST)"] == (
        "10% labels 9.50±0.40 (same rows as 50%), 50% labels 9.50±0.40, 100% labels 7.20±0.08; "
        "served ensemble of 3: 6.912"
    )
    assert rows["probe view"] == "n/a — fewer than two views (A4C)"
    assert rows["gates"] == gates_line({"gates": [g.to_json() for g in GATES]})


def test_gates_line_counts_and_names_each_failure() -> None:
    report = json.loads(json.dumps(jsonable({"gates": GATES})))
    assert gates_line(report) == (
        "1 passed, 2 failed, 1 not measured (2 block the release); failed: "
        "ef_mae_margin_over_random_init: 0.01 < 0.05 (FAIL), "
        "view_accuracy: not measured — fewer than two views (A4C) (threshold 0.5) (blocks), "
        "pediatric_ef_mae: 16.5 > 15 (fail (advisory))"
    )
    assert gates_line({"gates": []}) == "0 passed, 0 failed, 0 not measured (none blocks)"


def test_missing_files_are_named_not_raised(params: Params) -> None:
    layout = params.layout()
    rows = results_rows(layout)
    assert rows == [
        ("validate", "missing: reports/validation/clinic-a/summary.json"),
        ("pretrain", "missing: models/jepa-small/metrics.json"),
        ("probes", f"missing: {layout.probe_metrics}"),
        ("gates", f"missing: {layout.evaluation}"),
    ]


def test_where_to_look_follows_the_configured_layout(params: Params) -> None:
    layout = params.layout()
    demo = DemoLayout(layout)
    lines = "\n".join(where_to_look(layout, demo))
    assert "datasets: data/raw/clinic-a/ · validated rows and quarantine: data/validated/clinic-a/" in lines
    assert "reports/validation/clinic-a/data_docs/index.html" in lines
    assert "encoder run: models/jepa-small/ · embeddings: data/embeddings/jepa-small/" in lines
    assert "served probes: models/jepa-small/probes/" in lines
    assert "synthetic" not in lines and "jepa-tiny" not in lines  # no default path survives
    assert "echojepa quality data/demo/perturbed/*.avi" in lines


def test_where_production_tells_both_windows_and_the_trigger(params: Params) -> None:
    layout = params.layout()
    clean = {"alert": False, "degradation": {"causes": []}, "report_dir": "reports/monitoring/a"}
    degraded = {
        "alert": True,
        "degradation": {"causes": ["gain_drift"]},
        "report_dir": "reports/monitoring/b",
    }
    outcome = ProductionOutcome(
        Released("echojepa:abc", "cand-1", reused=False), (clean, degraded), ("retrain-7 (Scheduled)",),
        "http://127.0.0.1:4321/api",
    )  # fmt: skip
    lines = where_production(layout, outcome)
    assert lines[0].startswith("production model: echojepa:abc (candidate cand-1)")
    assert "ledger: books/ledger.jsonl · production log: prod-log/" in lines[0]
    assert lines[1] == "monitoring, clean window: no alert, likely cause: none · reports/monitoring/a"
    assert lines[2] == "monitoring, degraded window: ALERT, likely cause: gain_drift · reports/monitoring/b"
    assert lines[3].startswith("the drift event started retrain run retrain-7 (Scheduled);")
    assert "then http://127.0.0.1:4321 (flow runs" in lines[4]
    cooldown = where_production(
        layout, ProductionOutcome(outcome.release, (clean, degraded), (), outcome.api)
    )
    assert "the trigger's 24 h cooldown holds" in cooldown[3]


def test_times_table_and_file(params: Params) -> None:
    times = {"pipeline (dvc repro: simulate … evaluate)": 301.4, "serve (start until ready)": 9.6}
    assert times_rows(times) == [("pipeline (dvc repro: simulate … evaluate)", "301"),
                                 ("serve (start until ready)", "10"), ("total", "311")]  # fmt: skip
    path = write_times(DemoLayout(params.layout()), times)
    assert path == Path("reports/demo/times.json")  # where benchmarks/bench_demo.py reads it
    assert json.loads(path.read_text()) == times
