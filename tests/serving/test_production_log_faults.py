"""The production log on a fault: a SIGKILL while rows are buffered (a real subprocess), parquet writes
that fail (then are retried, then dead-lettered and counted), a replay that must not write twice, and a
live worker's journal that another worker must leave alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from serving.production_journal import DEAD_LETTER, JOURNAL_DIR, read_dead_letter
from serving.production_log import ProductionLog, read_production_log
from tests.packaged import REPO
from tests.serving.test_production_log import _row, _wait

# appends N rows, printing each id once `append` returned (what the service answers after), then waits
# to be killed; flush_rows=5 so the writer thread writes batches while rows come in. Before each next five
# it waits for the last batch to be on disk, so the last N mod 5 rows are the ones still buffered at the kill
# (the writer drains whatever is queued when it wakes: without the wait a batch could take 6 or 7 rows and
# the count on disk at the kill would vary from run to run)
CHILD = """
import sys, time
from tests.serving.test_production_log import _row
from serving.production_log import ProductionLog, read_production_log
log = ProductionLog(sys.argv[1], flush_rows=5, flush_seconds=3600)
n = int(sys.argv[2])
for i in range(n):
    if i and i % 5 == 0:
        deadline = time.monotonic() + 30
        while len(read_production_log(sys.argv[1])) < i and time.monotonic() < deadline:
            time.sleep(0.02)
    log.append(_row(f"r{i:03d}"))
    print(f"r{i:03d}", flush=True)
print("done", flush=True)
time.sleep(600)
"""


def _ids(root: Path) -> list[str]:
    return list(read_production_log(root).request_id)


def test_sigkill_while_buffering_loses_no_acknowledged_row(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), "23"],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    acknowledged = []
    for line in child.stdout:
        if line.strip() == "done":
            break
        acknowledged.append(line.strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert len(acknowledged) == 23
    before = _ids(tmp_path)
    assert len(before) == 20 and set(before) < set(acknowledged)  # 3 rows were only buffered at the kill
    assert list((tmp_path / JOURNAL_DIR).glob("*.jsonl"))  # ... and are in the dead worker's journal

    restarted = ProductionLog(tmp_path, flush_rows=5, flush_seconds=3600)  # the next start replays
    assert restarted.replayed_rows >= 23 - len(before)
    after = _ids(tmp_path)
    dead = [r["request_id"] for r in read_dead_letter(tmp_path)]
    assert sorted(after + dead) == acknowledged  # every acknowledged row, each exactly once
    assert dead == [] and not list((tmp_path / JOURNAL_DIR).glob("*.jsonl"))
    restarted.close()
    assert not list((tmp_path / JOURNAL_DIR).iterdir())  # a clean close leaves no journal behind


def test_failed_writes_are_retried_then_dead_lettered_and_counted(tmp_path: Path) -> None:
    blocker = tmp_path / f"date={datetime.now(UTC):%Y-%m-%d}"
    blocker.write_text("a file where the day's folder should be: every write there fails")
    counted: list[int] = []
    log = ProductionLog(
        tmp_path, flush_rows=100, flush_seconds=60, write_attempts=3, retry_seconds=0.01,
        on_failure=counted.append,
    )  # fmt: skip
    log.append(_row("a"))
    log.append(_row("b"))
    assert log.flush() == [] and counted == [2] and log.failed_rows == 2 and log.retried_writes == 2
    kept = read_dead_letter(tmp_path)
    assert [r["request_id"] for r in kept] == ["a", "b"]
    assert "FileExistsError" in kept[0]["error"] or "NotADirectoryError" in kept[0]["error"]
    assert kept[0]["embedding"] == [0.0, 1.0, 2.0, 3.0] and kept[0]["failed_at"]
    assert not list((tmp_path / JOURNAL_DIR).glob("*.jsonl"))  # dead-lettered rows leave the journal
    blocker.unlink()  # positive control: the same log writes once the fault is gone
    log.append(_row("c"))
    assert len(log.flush()) == 1 and _ids(tmp_path) == ["c"] and counted == [2]
    log.close()


def test_a_write_that_fails_once_succeeds_on_retry(tmp_path: Path) -> None:
    blocker = tmp_path / f"date={datetime.now(UTC):%Y-%m-%d}"
    blocker.write_text("blocks the first try only")
    log = ProductionLog(tmp_path, flush_rows=100, flush_seconds=60, write_attempts=3, retry_seconds=1.0)
    log.append(_row("a"))
    flushed: list[list[Path]] = []
    writer = threading.Thread(target=lambda: flushed.append(log.flush()))
    writer.start()
    _wait(lambda: log.retried_writes >= 1)  # the first try failed; the retry waits 1 s
    blocker.unlink()
    writer.join(timeout=10)
    assert len(flushed[0]) == 1 and _ids(tmp_path) == ["a"] and log.failed_rows == 0
    assert not (tmp_path / DEAD_LETTER).exists()
    log.close()


def test_replay_after_a_kill_between_write_and_journal_delete_writes_nothing_twice(tmp_path: Path) -> None:
    first = ProductionLog(tmp_path, flush_rows=100, flush_seconds=60)
    for name in ("a", "b", "c"):
        first.append(_row(name))
    (segment,) = (tmp_path / JOURNAL_DIR).glob("*.jsonl")
    journaled = segment.read_bytes()
    first.close()  # written, segment deleted
    segment.write_bytes(journaled)  # as if the kill came just before the deletion
    second = ProductionLog(tmp_path, flush_rows=100, flush_seconds=60)
    assert _ids(tmp_path) == ["a", "b", "c"] and not segment.exists()
    second.close()


def test_a_live_workers_journal_is_left_to_it(tmp_path: Path) -> None:
    live = ProductionLog(tmp_path, flush_rows=100, flush_seconds=3600)
    live.append(_row("a"))
    other = ProductionLog(tmp_path, flush_rows=100, flush_seconds=3600)  # a second worker starting
    assert other.replayed_rows == 0 and _ids(tmp_path) == []
    live.close()
    other.close()
    assert _ids(tmp_path) == ["a"]


def test_a_torn_last_journal_line_is_skipped(tmp_path: Path) -> None:
    first = ProductionLog(tmp_path, flush_rows=100, flush_seconds=3600)
    first.append(_row("a"))
    (segment,) = (tmp_path / JOURNAL_DIR).glob("*.jsonl")
    with segment.open("ab") as fh:
        fh.write(b'{"request_id":"half')  # a kill inside a write: that append never returned
    first._journal.close()  # the worker dies: its lock goes, its segment stays
    second = ProductionLog(tmp_path, flush_rows=100, flush_seconds=3600)
    assert second.replayed_rows == 1 and _ids(tmp_path) == ["a"]
    second.close()
