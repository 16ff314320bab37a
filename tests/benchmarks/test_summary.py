"""The benchmark summary: headline rows and their met flags, the markdown table, the merge of
reports/benchmarks.json across runs, and the demo benchmark's handling of a run, a failure and a re-run.

The inputs copy the shapes of reports/benchmarks/*.json (trimmed to the keys the summary reads).
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest

import benchmarks.__main__ as bench_main
from benchmarks import bench_demo
from benchmarks.summary import markdown_table, summary_rows

SIMULATOR = {
    "date": "2026-11-28", "workers": 2, "simulate_300_s": 27.04, "simulate_300_target_s": 30,
    "simulate_1000_s": 90.28, "simulate_1000_target_s": 120, "simulate_videos_per_s": 11.08,
    "quality": {"clips": 60, "quality_metrics_ms_p50": 25.75, "cause_classifier_ms_p50": 0.118},
    "cli_help_s_median": 0.179,
}  # fmt: skip
PRETRAIN = {
    "threads": 2, "pipeline_clips_per_s": 419.8,
    "jepa_tiny": {"step_s": 0.171, "clips_per_s": 46.7, "gflops_per_step": 15.3, "gflops_per_s": 89.3},
    "videomae_tiny": {"step_s": 0.107, "clips_per_s": 74.7, "gflops_per_step": 7.9, "gflops_per_s": 73.6},
    "pipeline_over_training": 5.6,
    "vjepa2_reference_config": {"step_s": 0.782, "reference_step_s": 1.47, "ratio_to_reference": 0.53},
}  # fmt: skip
_PRESET = {
    "requests": 12, "predict_in_process": {"p50_ms": 640.0, "p99_ms": 652.4},
    "predict_http": {"p50_ms": 686.7, "p99_ms": 918.6}, "http_over_in_process_p50": 1.073,
    "clip_endpoint": {"sequential_clips_per_s": 4.11, "concurrent_clients": 16, "speedup": 0.97},
    "forward_ms_per_clip": {"1": 203.3, "16": 217.9},
}  # fmt: skip
SERVING = {
    "cpus": 2, "torch_threads": 1, "tiny": copy.deepcopy(_PRESET), "small": copy.deepcopy(_PRESET),
    "targets": {"http_over_in_process_p50": 1.25, "clip_endpoint_speedup": 2.0, "preset": "small"},
}  # fmt: skip
_KINDS = ("depth_attenuation", "gaussian_shadow", "gain_drift", "sector_dropout")
_CONDITION = {
    "windows": {k: {s: {"flagged": 1.0, "right_cause": 1.0} for s in ("low", "high")} for k in _KINDS},
    "delay": {k: {s: {"median": 43.0, "p90": 51.2, "missed": 0} for s in ("low", "high")} for k in _KINDS},
    "clean": {"false_alarm": 0.0, "per_clip_flag_rate": 0.023},
}
MONITORING = {
    "date": "2026-11-29", "targets": {"high_right_cause_min": 0.95, "clean_false_alarm_max": 0.05},
    "served": copy.deepcopy(_CONDITION), "raw": copy.deepcopy(_CONDITION), "seconds": 34.4,
}  # fmt: skip
DEMO = {
    "total_s": 459.0, "target_total_s": 600, "met": True, "rerun": False,
    "stages": {
        "pipeline (dvc repro: simulate … evaluate)": 131.2,
        "release (retrain flow, approval, package)": 271.0,
    },
}  # fmt: skip


def _row(rows: list[dict], measure: str) -> dict:
    (row,) = [r for r in rows if r["measure"] == measure]
    return row


def test_targets_met_on_the_right_side() -> None:
    rows = summary_rows({"simulator": SIMULATOR, "pretrain": PRETRAIN})
    assert _row(rows, "simulate 300 videos (s)") == {
        "benchmark": "simulator", "measure": "simulate 300 videos (s)", "value": 27.04, "target": "≤ 30",
        "met": True,
    }  # fmt: skip
    assert _row(rows, "data pipeline ÷ training clips/s")["met"] is True
    assert _row(rows, "JEPA step, V-JEPA 2 reference config (s)")["met"] is True
    assert _row(rows, "JEPA tiny clips/s") == {
        "benchmark": "pretrain", "measure": "JEPA tiny clips/s", "value": 46.7, "target": None, "met": None,
    }  # fmt: skip

    slow = SIMULATOR | {"simulate_300_s": 31.0, "simulate_1000_s": 120.0}
    starved = PRETRAIN | {"pipeline_over_training": 2.9, "vjepa2_reference_config": {"step_s": 1.6}}
    rows = summary_rows({"simulator": slow, "pretrain": starved})
    assert _row(rows, "simulate 300 videos (s)")["met"] is False
    assert _row(rows, "simulate 1,000 videos (s)")["met"] is True  # the bound itself meets a ≤ target
    assert _row(rows, "data pipeline ÷ training clips/s")["met"] is False
    reference = _row(rows, "JEPA step, V-JEPA 2 reference config (s)")
    assert (reference["target"], reference["met"]) == ("≤ 1.47", False)  # the default reference


def test_serving_targets_hold_at_the_named_preset_only() -> None:
    serving = copy.deepcopy(SERVING)
    serving["small"]["clip_endpoint"]["speedup"] = 2.4
    serving["small"]["http_over_in_process_p50"] = 1.3
    rows = summary_rows({"serving": serving})
    assert _row(rows, "small: batching speed-up, 16 clients ÷ 1")["met"] is True
    assert _row(rows, "small: HTTP ÷ in-process p50")["met"] is False
    assert _row(rows, "small: /predict over HTTP p99 (ms)")["value"] == 918.6
    tiny = _row(rows, "tiny: batching speed-up, 16 clients ÷ 1")
    assert (tiny["value"], tiny["target"], tiny["met"]) == (0.97, None, None)


def test_monitoring_worst_kind_and_false_alarms() -> None:
    monitoring = copy.deepcopy(MONITORING)
    monitoring["served"]["windows"]["gaussian_shadow"]["high"]["right_cause"] = 0.9
    monitoring["served"]["windows"]["gain_drift"]["low"]["flagged"] = 0.7
    monitoring["served"]["delay"]["sector_dropout"]["low"] |= {"median": 77.0, "missed": 2}
    monitoring["raw"]["clean"]["false_alarm"] = 0.06
    rows = summary_rows({"monitoring": monitoring})
    assert _row(rows, "served: right cause at high severity (worst kind)") == {
        "benchmark": "monitoring", "measure": "served: right cause at high severity (worst kind)",
        "value": 0.9, "target": "≥ 0.95", "met": False,
    }  # fmt: skip
    assert _row(rows, "raw: right cause at high severity (worst kind)")["met"] is True
    assert _row(rows, "served: windows flagged (worst kind × severity)")["value"] == 0.7
    assert _row(rows, "served: detection delay, median videos (worst)")["value"] == 77.0
    assert _row(rows, "served: delay streams missed")["value"] == 2
    assert _row(rows, "served: clean false alarm")["met"] is True
    assert _row(rows, "raw: clean false alarm")["met"] is False


def test_shortcut_audit_rows_hold_every_pixel_estimator_to_the_bound() -> None:
    audit = {
        "audit": {"test_videos": 161, "estimators": {
            "tubelet": {"ratio_to_mean_predictor": 0.47}, "dark_area": {"ratio_to_mean_predictor": 0.91},
        }},
        "shuffled_labels_control": {"best_ratio": 1.002}, "done_when_every_ratio_at_least": 0.85,
    }  # fmt: skip
    rows = summary_rows({"shortcut_audit": audit})
    assert _row(rows, "tubelet: pixel-only TEST EF MAE ÷ mean predictor's") == {
        "benchmark": "shortcut_audit", "measure": "tubelet: pixel-only TEST EF MAE ÷ mean predictor's",
        "value": 0.47, "target": "≥ 0.85", "met": False,
    }  # fmt: skip
    assert _row(rows, "dark_area: pixel-only TEST EF MAE ÷ mean predictor's")["met"] is True
    assert _row(rows, "TEST videos")["met"] is True
    assert _row(rows, "shuffled-label control: best ratio")["met"] is True


def test_demo_total_and_stages() -> None:
    rows = summary_rows({"demo": DEMO})
    assert [r["measure"] for r in rows] == [
        "total wall time (s), fresh run",
        "stage: pipeline (dvc repro: simulate … evaluate) (s)",
        "stage: release (retrain flow, approval, package) (s)",
    ]
    assert rows[0]["met"] is True and rows[1]["value"] == 131.2
    rows = summary_rows({"demo": DEMO | {"total_s": 640.5, "rerun": True}})
    assert rows[0]["measure"] == "total wall time (s), re-run, unchanged stages reused"
    assert rows[0]["met"] is False


def test_missing_keys_and_odd_shapes_skip_rows() -> None:
    pretrain = {k: v for k, v in PRETRAIN.items() if not k.startswith("pipeline")} | {"jepa_tiny": "n/a"}
    rows = summary_rows({"pretrain": pretrain, "serving": {"targets": {}}, "realism": {}, "demo": {}})
    assert {r["measure"] for r in rows} == {
        "VideoMAE tiny step (s)", "VideoMAE tiny clips/s", "JEPA step, V-JEPA 2 reference config (s)",
    }  # fmt: skip
    odd = {"monitoring": {"served": {"windows": [1, 2]}}, "simulator": {"simulate_300_s": True}}
    rows = summary_rows(odd | {"machine": {"cpus": 2}, "date": "2026-11-30", "unknown": {"x": 1}})
    assert [(r["benchmark"], r["met"]) for r in rows] == [("monitoring", None)]  # one row, never a crash


def test_a_failed_benchmark_is_one_row() -> None:
    rows = summary_rows({"simulator": SIMULATOR, "demo": {"error": "echojepa: error: dvc repro failed"}})
    assert rows[-1] == {
        "benchmark": "demo", "measure": "failed", "value": "echojepa: error: dvc repro failed",
        "target": None, "met": False,
    }  # fmt: skip
    assert all(r["benchmark"] == "simulator" for r in rows[:-1])


def test_markdown_table() -> None:
    rows = summary_rows({"simulator": SIMULATOR, "serving": SERVING, "other": {"error": "a | b\nc"}})
    table = markdown_table(rows, {"cpus": 2, "python": "3.11.7", "gpu": "NVIDIA H200"}, "2026-11-30")
    lines = table.splitlines()
    assert lines[0] == "## Benchmarks, 2026-11-30"
    assert lines[2] == "Machine: cpus 2 · python 3.11.7 · gpu NVIDIA H200"
    assert lines[4:6] == ["| benchmark | measure | value | target | met |", "|---|---|---|---|---|"]
    assert len(lines) == 6 + len(rows)
    assert "| simulator | simulate 300 videos (s) | 27.0 | ≤ 30 | yes |" in lines
    assert "| serving | small: batching speed-up, 16 clients ÷ 1 | 0.97 | ≥ 2 | **no** |" in lines
    assert "| serving | tiny: /predict over HTTP p99 (ms) | 919 | – | – |" in lines
    assert lines[-1] == "| other | failed | a \\| b c | – | **no** |"


@pytest.fixture
def bench_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_main, "machine", lambda: {"cpus": 2, "python": "3.11.7"})
    (tmp_path / "reports").mkdir()
    earlier = {"machine": {"cpus": 16}, "date": "2026-11-28", "pretrain": PRETRAIN, "demo": {"error": "x"}}
    (tmp_path / "reports/benchmarks.json").write_text(json.dumps(earlier))
    return tmp_path


def test_main_merges_into_earlier_results(bench_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_main, "BENCHMARKS", {"simulator": lambda: SIMULATOR, "demo": lambda: DEMO})
    bench_main.main(["simulator"])
    merged = json.loads((bench_dir / "reports/benchmarks.json").read_text())
    assert list(merged)[:2] == ["machine", "date"] and merged["machine"] == {"cpus": 2, "python": "3.11.7"}
    assert merged["pretrain"] == PRETRAIN and merged["simulator"] == SIMULATOR
    assert merged["demo"] == {"error": "x"}  # not run this time: kept as it was
    assert json.loads((bench_dir / "reports/benchmarks/simulator.json").read_text()) == SIMULATOR
    table = (bench_dir / "reports/benchmarks.md").read_text()
    assert "| pretrain | data pipeline ÷ training clips/s | 5.6 | ≥ 3 | yes |" in table
    assert "| simulator | simulate 300 videos (s) | 27.0 | ≤ 30 | yes |" in table


def test_main_records_a_failure_and_goes_on(bench_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict:
        raise RuntimeError("no dataset")

    monkeypatch.setattr(bench_main, "BENCHMARKS", {"pretrain": broken, "demo": lambda: DEMO})
    with pytest.raises(SystemExit) as exit_info:
        bench_main.main([])
    assert exit_info.value.code == 1
    merged = json.loads((bench_dir / "reports/benchmarks.json").read_text())
    assert merged["pretrain"] == {"error": "RuntimeError: no dataset"} and merged["demo"] == DEMO
    assert not (bench_dir / "reports/benchmarks/pretrain.json").exists()
    assert (
        "| pretrain | failed | RuntimeError: no dataset | – | **no** |"
        in (bench_dir / "reports/benchmarks.md").read_text()
    )
    with pytest.raises(SystemExit, match="unknown benchmark"):
        bench_main.main(["nope"])


def _fake_demo(code: int, write_times: bool) -> list[str]:
    script = (
        "import json, pathlib, sys\n"
        "p = pathlib.Path('reports/demo'); p.mkdir(parents=True, exist_ok=True)\n"
        f"if {write_times}: (p / 'times.json').write_text(json.dumps({{'pipeline': 1.24, 'serve': 0.5}}))\n"
        "print('demo output'); print('echojepa: error: dvc repro failed', file=sys.stderr)\n"
        f"sys.exit({code})\n"
    )
    return [sys.executable, "-c", script]


def test_demo_benchmark_times_a_run(tmp_path: Path) -> None:
    result = bench_demo.run(_fake_demo(0, True), repo=tmp_path)
    assert result["stages"] == {"pipeline": 1.2, "serve": 0.5} and result["stages_sum_s"] == 1.7
    assert 0 <= result["total_s"] < 60 and result["met"] is True and result["target_total_s"] == 600
    assert result["rerun"] is False and result["mode"].startswith("fresh")
    assert (tmp_path / "reports/benchmarks/demo.log").read_text().strip() == "demo output"

    (tmp_path / "models/jepa-tiny").mkdir(parents=True)
    (tmp_path / "models/jepa-tiny/encoder.pt").write_bytes(b"")
    assert bench_demo.run(_fake_demo(0, True), repo=tmp_path)["rerun"] is True


def test_demo_benchmark_failures_are_results(tmp_path: Path) -> None:
    failed = bench_demo.run(_fake_demo(1, True), repo=tmp_path)
    assert failed == {"error": "echojepa: error: dvc repro failed", "rerun": False}
    (tmp_path / "reports/demo/times.json").touch()
    os.utime(tmp_path / "reports/demo/times.json", (0, 0))  # a previous run's table
    stale = bench_demo.run(_fake_demo(0, False), repo=tmp_path)
    assert "without writing reports/demo/times.json" in stale["error"]


def test_cause_rows_per_variant_and_the_span_of_site_looks() -> None:
    group = {"false_alarm": 0.033, "worst_high_named_right": 0.917}
    causes = {
        "targets": {"false_alarm_max": 0.05, "high_named_right_min": 0.9},
        "by_variant": {"rendered": {"false_alarm": 0.0, "worst_high_named_right": 1.0}, "mjpeg": group,
                       "site": {"false_alarm": 0.067, "worst_high_named_right": 0.85}},
        "site_inside_real_ranges": {"videos": 21, **group},
        "site_look_statistics": {"sector_std": {"spans_real_range": True},
                                 "dark_share": {"spans_real_range": False}},
    }  # fmt: skip
    rows = summary_rows({"causes": causes})
    assert _row(rows, "site: clean false alarm") == {
        "benchmark": "causes", "measure": "site: clean false alarm", "value": 0.067, "target": "≤ 0.05",
        "met": False,
    }  # fmt: skip
    assert _row(rows, "site: right cause at high severity (worst kind)")["met"] is False
    assert _row(rows, "mjpeg: right cause at high severity (worst kind)")["met"] is True
    assert _row(rows, "site, inside EchoNet's ranges: clean false alarm")["met"] is True
    span = _row(rows, "site looks span EchoNet's range (statistics, of 2)")
    assert (span["value"], span["met"]) == (1, False)
