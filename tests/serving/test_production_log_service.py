"""The real service (`echojepa serve` over HTTP) SIGKILLed while its production log buffers answered rows:
the next start replays them into the log; a log write that keeps failing puts its row in the dead-letter
file and on /metrics (echojepa_production_log_failed_rows_total)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from serving.production_journal import JOURNAL_DIR, read_dead_letter
from serving.production_log import read_production_log
from tests.packaged import PackagedModel, write_params
from tests.serving.conftest import LIMITS, curl, start_server, stop_server, wait_for
from tests.serving.test_production_log import _wait

COUNTER = "echojepa_production_log_failed_rows_total"


def _params(model: PackagedModel, root: Path, flush_seconds: float) -> Path:
    return write_params(
        root / f"params-{flush_seconds:g}.yaml", base=model.params,
        serving={
            **LIMITS, "flush_rows": 1000, "flush_seconds": flush_seconds, "reload_seconds": 0,
            "feast_push": "off", "production_log": str(root / "production"), "api_key_env": "ECHOJEPA_NO_KEY",
            "log_write_attempts": 2, "log_retry_seconds": 0.1,
        },
    )  # fmt: skip


def _kill_tree(pid: int) -> None:
    """SIGKILL the server and every process under it at once. BentoML's workers (the processes that buffer
    the rows) run in sessions of their own, so killing the server's process group would leave them alive."""
    root = psutil.Process(pid)
    processes = [*root.children(recursive=True), root]
    for process in processes:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs(processes, timeout=30)


def _counter(server) -> float:
    lines = httpx.get(server.url + "/metrics").text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(COUNTER + " "))


def test_a_sigkilled_service_loses_no_answered_row(packaged_model: PackagedModel, tmp_path: Path) -> None:
    log_root = tmp_path / "production"
    buffering = start_server(packaged_model, _params(packaged_model, tmp_path, 3600), tmp_path / "one.log")
    wait_for(buffering.url, "/readyz", process=buffering.process)
    answered = []
    for video in packaged_model.clean:
        status, body = curl(buffering, "/predict", "-F", f"video=@{video}")
        assert status == 200, body
        answered.append(body["request_id"])
    _kill_tree(buffering.process.pid)
    buffering.process.wait(timeout=30)
    assert read_production_log(log_root).empty  # nothing flushed: every answered row was only buffered
    assert list((log_root / JOURNAL_DIR).glob("*.jsonl"))

    restarted = start_server(packaged_model, _params(packaged_model, tmp_path, 0.2), tmp_path / "two.log")
    try:
        wait_for(restarted.url, "/readyz", process=restarted.process)
        assert sorted(read_production_log(log_root).request_id) == sorted(answered)  # replayed at start
        assert _counter(restarted) == 0
        day = log_root / f"date={datetime.now(UTC):%Y-%m-%d}"
        day.rename(day.with_name(day.name + ".aside"))
        day.write_text("a file where the day's folder should be: the next write fails")
        status, body = curl(restarted, "/predict", "-F", f"video=@{packaged_model.clean[0]}")
        assert status == 200, body
        _wait(lambda: _counter(restarted) == 1, timeout=30)
        assert [r["request_id"] for r in read_dead_letter(log_root)] == [body["request_id"]]
    finally:
        stop_server(restarted)
