"""Reading the production log's window and the reference; the one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from config.params import load_params
from monitoring.data import (
    MonitoringError,
    parse_time,
    production_reference,
    read_current,
    read_production_log,
    read_reference,
    window_bounds,
)
from monitoring.run import run_monitoring
from monitoring.synthetic import synthetic_log, write_production_log
from tests.configs import section
from tests.monitoring.conftest import CLEAN_DAY, DEGRADED_DAY, window_rows
from ultrasound.quality import METRICS

UTC = "UTC"


def test_the_window_reads_only_its_rows_across_date_partitions(monitored: Path) -> None:
    log = monitored / "production"
    assert sorted(p.name for p in log.iterdir()) == [f"date={CLEAN_DAY}", f"date={DEGRADED_DAY}"]
    # 24 rows a minute apart from midnight of each day: 12:00 on day one to 00:10 on day two
    start, end = pd.Timestamp(f"{CLEAN_DAY}T00:12", tz=UTC), pd.Timestamp(f"{DEGRADED_DAY}T00:10", tz=UTC)
    rows = read_production_log(log, start, end)
    assert len(rows) == (24 - 12) + 10
    assert rows.time.is_monotonic_increasing and rows.time.min() == start and rows.time.max() < end
    assert {"request_id", "warnings", "degraded", "ef", "view", "embedding", "study_id", *METRICS} <= set(
        rows
    )
    assert len(rows.embedding.iloc[0]) == 16 and rows.time.dt.tz is not None


def test_the_log_format_round_trips(tmp_path: Path, clip_metrics) -> None:
    frame = synthetic_log(window_rows(clip_metrics, "gain_drift"), "2026-02-01T23:50", seed=5)
    paths = write_production_log(frame, tmp_path / "log")
    assert [p.parent.name for p in paths] == ["date=2026-02-01", "date=2026-02-02"]  # split at midnight
    back = read_current([tmp_path / "log"]).sort_values("time").reset_index(drop=True)
    assert back.request_id.tolist() == frame.request_id.tolist()
    assert back.warnings.str.contains("gain_drift").sum() >= 20 and back.degraded.sum() >= 20


def test_times_and_windows() -> None:
    end = pd.Timestamp("2026-01-06T06:00", tz=UTC)
    assert parse_time("36h", end) == pd.Timestamp("2026-01-04T18:00", tz=UTC)
    assert parse_time("2026-01-05") == pd.Timestamp("2026-01-05", tz=UTC)
    assert window_bounds(None, "2026-01-06T06:00", 1.0) == (end - pd.Timedelta(days=1), end)
    with pytest.raises(MonitoringError, match="cannot read time 'yesterday'"):
        parse_time("yesterday")
    with pytest.raises(MonitoringError, match="empty window"):
        window_bounds("2026-01-06", "2026-01-05", 1.0)


def test_missing_reference_and_missing_production_model_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(MonitoringError, match=r"reference .*nope.parquet not found"):
        read_reference(tmp_path / "nope.parquet")
    with pytest.raises(MonitoringError) as caught:
        production_reference(section("release", ledger=tmp_path / "ledger.jsonl", witness_dir=tmp_path / "w"))
    assert "no production model" in str(caught.value) and "\n" not in str(caught.value)


def test_an_empty_window_is_a_clear_message(monitored: Path) -> None:
    with pytest.raises(MonitoringError, match=r"no production rows in .*production between 2026-03-01"):
        run_monitoring(
            load_params(monitored / "params.yaml"),
            since="2026-03-01",
            until="2026-03-02",
            reference_path=monitored / "reference.parquet",
        )


def test_a_window_below_min_window_concludes_nothing(monitored: Path) -> None:
    from monitoring.data import InsufficientWindow

    with pytest.raises(InsufficientWindow, match="only 10 production rows"):
        run_monitoring(
            load_params(monitored / "params.yaml"),
            since=f"{CLEAN_DAY}T00:00",
            until=f"{CLEAN_DAY}T00:10",
            reference_path=monitored / "reference.parquet",
        )


def test_a_corrupt_log_file_is_skipped_and_named_in_the_result(monitored: Path) -> None:
    log = monitored / "production"
    good = sorted((log / f"date={CLEAN_DAY}").glob("*.parquet"))[0]
    corrupt = good.with_name("w9-000001.parquet")
    data = good.read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])  # cut mid-file, as a disk fault leaves one
    foreign = good.with_name("w9-000002.parquet")
    pd.DataFrame({"x": [1]}).to_parquet(foreign)  # parquet, but no production rows
    skipped: list = []
    start, end = pd.Timestamp(f"{CLEAN_DAY}T00:00", tz=UTC), pd.Timestamp(f"{DEGRADED_DAY}T00:00", tz=UTC)
    assert len(read_production_log(log, start, end, skipped)) == 24  # the good file's rows, all of them
    assert [s.path for s in skipped] == [str(corrupt), str(foreign)] and "no `time`" in skipped[1].error
    result = run_monitoring(
        load_params(monitored / "params.yaml"), since=f"{CLEAN_DAY}T00:00", until=f"{CLEAN_DAY}T23:59",
        reference_path=monitored / "reference.parquet", dashboard=False,
    )  # fmt: skip
    assert result.drift.rows == 24 and not result.alert
    assert [f.path for f in result.skipped_files] == [str(corrupt), str(foreign)]
    saved = json.loads((Path(result.report_dir) / "result.json").read_text())
    assert [f["path"] for f in saved["skipped_files"]] == [str(corrupt), str(foreign)]
    summary = (Path(result.report_dir) / "summary.md").read_text()
    assert f"skipped unreadable production-log file {corrupt}" in summary
    corrupt.unlink()  # positive control: without the bad files nothing is skipped
    foreign.unlink()
    again = run_monitoring(
        load_params(monitored / "params.yaml"), since=f"{CLEAN_DAY}T00:00", until=f"{CLEAN_DAY}T23:59",
        reference_path=monitored / "reference.parquet", dashboard=False,
    )  # fmt: skip
    assert again.skipped_files == () and again.drift.rows == 24


def test_a_log_of_only_corrupt_files_reads_as_empty_and_names_them(tmp_path: Path) -> None:
    day = tmp_path / "production" / f"date={CLEAN_DAY}"
    day.mkdir(parents=True)
    (day / "w0-000001.parquet").write_bytes(b"PAR1 not really")
    skipped: list = []
    start, end = pd.Timestamp(CLEAN_DAY, tz=UTC), pd.Timestamp(DEGRADED_DAY, tz=UTC)
    assert read_production_log(tmp_path / "production", start, end, skipped).empty
    assert [s.path for s in skipped] == [str(day / "w0-000001.parquet")]
