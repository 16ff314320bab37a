"""The production log: exact columns, append-only files per flush, flush by rows, by time and on close,
time-window reads."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from serving.production_log import LOG_COLUMNS, ProductionLog, read_production_log
from ultrasound.quality import METRICS


def _row(request_id: str, when: datetime | None = None) -> dict:
    return {m: 1.0 for m in METRICS} | {
        "request_id": request_id, "time": when or datetime.now(UTC), "model_version": "v1",
        "warnings": "blur", "degraded": True, "ef": 55.0, "view": "A4C", "view_probs": [0.9, 0.1],
        "embedding": np.arange(4, dtype=np.float32), "latency_ms": 12.0, "study_id": "dcm_ab",
        "device": "unknown", "cohort": "adult",
    }  # fmt: skip


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def test_columns_types_and_one_new_file_per_flush(tmp_path: Path) -> None:
    log = ProductionLog(tmp_path, flush_rows=100, flush_seconds=60)
    log.append(_row("a"))
    log.append(_row("b"))
    first = log.flush()
    log.append(_row("c"))
    second = log.flush()
    assert len(first) == len(second) == 1 and first != second and _files(tmp_path) == sorted(first + second)
    day = f"date={datetime.now(UTC):%Y-%m-%d}"
    assert first[0].parent.name == day and first[0].name.startswith(log.worker + "-")
    frame = read_production_log(tmp_path)
    assert tuple(frame.columns) == LOG_COLUMNS and list(frame.request_id) == ["a", "b", "c"]
    assert str(frame.time.dtype) == "datetime64[us, UTC]" and frame.degraded.dtype == bool
    assert frame.embedding.iloc[0].dtype == np.float32 and list(frame.view_probs.iloc[0]) == [0.9, 0.1]
    log.close()


def test_flushes_by_rows_by_time_and_on_close(tmp_path: Path) -> None:
    by_rows = ProductionLog(tmp_path / "rows", flush_rows=2, flush_seconds=3600)
    by_rows.append(_row("a"))
    by_rows.append(_row("b"))
    _wait(lambda: len(read_production_log(tmp_path / "rows")) == 2)
    by_time = ProductionLog(tmp_path / "time", flush_rows=100, flush_seconds=0.2)
    by_time.append(_row("c"))
    _wait(lambda: len(read_production_log(tmp_path / "time")) == 1)
    on_close = ProductionLog(tmp_path / "close", flush_rows=100, flush_seconds=3600)
    on_close.append(_row("d"))
    assert _files(tmp_path / "close") == []
    on_close.close()
    assert list(read_production_log(tmp_path / "close").request_id) == ["d"]
    by_rows.close()
    by_time.close()


def test_rows_split_by_day_and_window_reads(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    log = ProductionLog(tmp_path, flush_rows=100, flush_seconds=60)
    for i, days in enumerate((3, 1, 0)):
        log.append(_row(f"r{i}", now - timedelta(days=days)))
    assert len(log.flush()) == 3  # one file per UTC date
    assert list(read_production_log(tmp_path, since=now - timedelta(days=2)).request_id) == ["r1", "r2"]
    assert list(read_production_log(tmp_path, until=now - timedelta(hours=12)).request_id) == ["r0", "r1"]
    naive = (now - timedelta(days=2)).replace(tzinfo=None)
    assert len(read_production_log(tmp_path, since=naive)) == 2
    assert read_production_log(tmp_path / "missing").empty
    log.close()


def test_a_failing_sink_never_loses_the_log(tmp_path: Path) -> None:
    seen = []

    def broken(frame) -> None:
        seen.append(len(frame))
        raise RuntimeError("store down")

    log = ProductionLog(tmp_path, flush_rows=100, flush_seconds=60, sinks=[broken])
    log.append(_row("a"))
    assert len(log.flush()) == 1 and seen == [1] and len(read_production_log(tmp_path)) == 1
    log.append({"request_id": "incomplete"})  # a row without the schema's columns is dropped, counted
    assert log.flush() == [] and log.failed_rows == 1 and len(read_production_log(tmp_path)) == 1
    log.close()


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
