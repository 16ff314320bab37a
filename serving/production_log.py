"""The production log: one row per served prediction, as append-only parquet files that monitoring reads.

Layout (Interfaces, ARCHITECTURE.md): `<root>/date=YYYY-MM-DD/<worker>-<batch>.parquet`. A file is never
rewritten: each flush writes a new one under a temporary name, fsyncs it, links it into place (an existing
name is never replaced) and fsyncs the folder, so a reader or a power cut sees the whole file or none.
Columns are exactly LOG_COLUMNS, typed by LOG_SCHEMA; no column holds a patient identifier (`study_id` is
an HMAC pseudonym).

Nothing answered is lost on a fault (serving.production_journal): `append` puts the row in an fsynced
write-ahead journal before it returns, so before the client gets its answer, and the next start replays
what a killed worker had buffered. A parquet write that fails is retried (`write_attempts`, backing off
from `retry_seconds`); rows that still cannot be written, or that do not fit the schema, go to
`<root>/dead-letter.jsonl` and are counted (`on_failure`: the /metrics counter).

Rows are buffered and written by a background thread `flush_rows` rows at a time, or `flush_seconds`
after the oldest buffered row, and on `close()`. After each write, `sinks` (the Feast push) receive the
batch; a failing sink is logged and counted, never raised into a request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from release.durable import fsync_dir, fsync_file
from serving.production_journal import DEAD_LETTER, Journal, dead_letter
from ultrasound.quality import METRICS

log = logging.getLogger(__name__)

LOG_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),  # uuid4 hex
        ("time", pa.timestamp("us", tz="UTC")),
        ("model_version", pa.string()),
        *((m, pa.float64()) for m in METRICS),
        ("warnings", pa.string()),  # comma-joined cause ids ("" when none)
        ("degraded", pa.bool_()),
        ("ef", pa.float64()),
        ("view", pa.string()),
        ("view_probs", pa.list_(pa.float64())),  # in the model's view order
        ("embedding", pa.list_(pa.float32())),  # pooled over clips and tokens
        ("latency_ms", pa.float64()),
        ("study_id", pa.string()),  # HMAC pseudonym of the client's study id ("" when absent)
        ("device", pa.string()),
        ("cohort", pa.string()),  # adult | pediatric | unknown
    ]
)
LOG_COLUMNS: tuple[str, ...] = tuple(LOG_SCHEMA.names)

Sink = Callable[[pd.DataFrame], None]


def _worker_name() -> str:
    """Unique per process start, so two runs of the same worker can never produce the same file name."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
    return f"{host}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def to_table(rows: Sequence[dict]) -> pa.Table:
    """Rows (dicts with every LOG_COLUMNS key) -> a table of LOG_SCHEMA; a missing key is a KeyError."""
    frame = pd.DataFrame({name: [row[name] for row in rows] for name in LOG_COLUMNS})
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return pa.Table.from_pandas(frame, schema=LOG_SCHEMA, preserve_index=False)


class ProductionLog:
    """Buffered, append-only writer of production rows under `root` (thread-safe).

    Args:
        root: the log's folder (serving.production_log).
        flush_rows, flush_seconds: write a batch at this many rows, or this long after its first row.
        sinks: called with each written batch (the Feast push).
        write_attempts: tries of each parquet write before its rows go to the dead-letter file.
        retry_seconds: wait before the second try, doubled before each further one.
        on_failure: called with the row count of each batch that went to the dead-letter file (a metric).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        flush_rows: int = 64,
        flush_seconds: float = 1.0,
        sinks: Sequence[Sink] = (),
        write_attempts: int = 3,
        retry_seconds: float = 0.5,
        on_failure: Callable[[int], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.sinks = list(sinks)
        self.write_attempts, self.retry_seconds = max(1, write_attempts), retry_seconds
        self.on_failure = on_failure
        self.worker = _worker_name()
        self.written_rows = 0
        self.failed_rows = 0  # rows that went to the dead-letter file (or were lost with it)
        self.retried_writes = 0
        self._rows: list[dict] = []
        self._first_at = 0.0
        self._batch = 1  # the batch being buffered: its journal segment and its files' number
        self._closing = False
        self._wake = threading.Condition()
        self._flushing = threading.Lock()  # one flush at a time: batch numbers never collide
        self._journal = Journal(self.root, self.worker)
        self.replayed_rows = self._replay()
        self._thread = threading.Thread(target=self._run, name="production-log", daemon=True)
        self._thread.start()

    def append(self, row: dict) -> None:
        """Buffer one row (a dict with every LOG_COLUMNS key); when this returns the row is in the fsynced
        journal, so a kill before the writer thread flushes it loses nothing (the next start replays it)."""
        with self._wake:
            try:
                self._journal.append(self._batch, row)
            except Exception as exc:  # a full disk: the row is still written at the next flush
                log.error("production log: journal write failed (row kept in memory only): %s", exc)
            if not self._rows:
                self._first_at = time.monotonic()
            self._rows.append(row)
            if len(self._rows) == 1 or len(self._rows) >= self.flush_rows:
                self._wake.notify()  # the writer starts its flush_seconds clock, or flushes now

    def flush(self) -> list[Path]:
        """Write every buffered row now (one file per UTC date); returns the files written."""
        with self._flushing:
            with self._wake:
                rows, self._rows = self._rows, []
                batch, self._batch = self._batch, self._batch + (1 if rows else 0)
            if not rows:
                return []
            paths, kept = self._commit(rows, self.worker, batch)
            if kept:
                self._journal.retire(batch)
            return paths

    def _replay(self) -> int:
        """Write what dead workers' journals hold (rows answered but never flushed); the row count."""
        count = 0
        for worker, segments in self._journal.orphans():
            for batch, rows in segments:
                kept = self._commit(rows, worker, batch, replay=True)[1] if rows else True
                count += len(rows)
                if kept:  # else the segment stays for the start after this one
                    self._journal.retire(batch, worker)
        if count:
            log.warning("production log: replayed %d journaled rows of stopped workers", count)
        return count

    def _commit(
        self, rows: list[dict], worker: str, batch: int, replay: bool = False
    ) -> tuple[list[Path], bool]:
        """Write `rows` as `date=<day>/<worker>-<batch>.parquet` files, retrying each write; rows that
        cannot be converted or written go to the dead-letter file. Returns (files written, whether every
        row is now in a file or in the dead-letter file)."""
        table, bad = _tables(rows)
        kept = True
        if bad:
            kept = self._dead(bad, "row does not fit the log's schema")
        paths: list[Path] = []
        written = []
        days = table.column("time").to_pandas().dt.strftime("%Y-%m-%d") if table.num_rows else []
        for day in sorted(set(days)):
            mask = (days == day).to_numpy()
            part = table.filter(pa.array(mask))
            final = self.root / f"date={day}" / f"{worker}-{batch:06d}.parquet"
            if replay and final.exists():
                continue  # written before the kill, which came before its segment was deleted
            error = self._write_with_retries(part, final)
            if error is None:
                paths.append(final)
                written.append(part)
                self.written_rows += part.num_rows
            else:
                kept &= self._dead([r for r, m in zip(_good(rows, bad), mask, strict=True) if m], error)
        if written:
            self._push(pa.concat_tables(written).to_pandas())
        return paths, kept

    def _write_with_retries(self, table: pa.Table, final: Path) -> str | None:
        """None once written, else the last error (one line)."""
        for attempt in range(self.write_attempts):
            try:
                _write(table, final)
                return None
            except Exception as exc:  # the writer thread must survive any write failure
                error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                log.warning("production log: write %d of %s failed: %s", attempt + 1, final, error)
                if attempt + 1 < self.write_attempts:
                    self.retried_writes += 1
                    time.sleep(self.retry_seconds * 2**attempt)
        return error

    def _dead(self, rows: list[dict], error: str) -> bool:
        self.failed_rows += len(rows)
        log.error("production log: %d rows kept in %s: %s", len(rows), DEAD_LETTER, error)
        if self.on_failure is not None:
            try:
                self.on_failure(len(rows))
            except Exception as exc:
                log.warning("production log: failure counter raised: %s", exc)
        return dead_letter(self.root, rows, error)

    def _push(self, frame: pd.DataFrame) -> None:
        for sink in self.sinks:
            try:
                sink(frame)
            except Exception as exc:  # a sink must never lose the log or fail a request
                log.warning("production log sink %s failed: %s", getattr(sink, "__name__", sink), exc)

    def close(self) -> None:
        """Flush what is buffered, stop the writer thread and release the journal."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout=60)
        self.flush()
        self._journal.close()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closing:
                    due = self._first_at + self.flush_seconds - time.monotonic()
                    if self._rows and (len(self._rows) >= self.flush_rows or due <= 0):
                        break
                    self._wake.wait(due if self._rows else None)
                if self._closing:
                    return  # close() flushes the rest
            try:
                self.flush()
            except Exception:  # the rows stay in the journal; the thread must go on
                log.exception("production log: flush failed")


def _tables(rows: list[dict]) -> tuple[pa.Table, list[dict]]:
    """(table of the rows that fit LOG_SCHEMA, rows that do not): one bad row never costs its batch."""
    try:
        return to_table(rows), []
    except Exception:
        good, bad = [], []
        for row in rows:
            try:
                to_table([row])
                good.append(row)
            except Exception:
                bad.append(row)
        return (to_table(good) if good else LOG_SCHEMA.empty_table()), bad


def _good(rows: list[dict], bad: list[dict]) -> list[dict]:
    skip = {id(r) for r in bad}
    return [r for r in rows if id(r) not in skip]


def _write(table: pa.Table, final: Path) -> None:
    """Parquet under a temporary name, fsynced, hard-linked to `final` (never replacing a file), the
    folder fsynced: a reader, or a kill at any instant, sees the whole file or none."""
    folder = final.parent
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        fsync_dir(folder.parent)
    tmp = folder / f".{final.name}.tmp"
    pq.write_table(table, tmp)
    try:
        fsync_file(tmp)
        # link never replaces a file. It finds one only on a retry after a failure that came after the
        # link (names are unique per worker start and batch): that file holds these very rows
        with contextlib.suppress(FileExistsError):
            os.link(tmp, final)
        fsync_dir(folder)
    finally:
        tmp.unlink(missing_ok=True)


def read_production_log(
    root: str | Path, since: datetime | str | None = None, until: datetime | str | None = None
) -> pd.DataFrame:
    """Every logged row with `since <= time < until` (either bound optional), sorted by time, with
    exactly LOG_COLUMNS; an empty, typed frame when there are none. Naive bounds are taken as UTC."""
    lo = None if since is None else _utc(since)
    hi = None if until is None else _utc(until)
    tables = []
    for folder in sorted(Path(root).glob("date=*")):
        day = folder.name.removeprefix("date=")
        if (lo is not None and day < f"{lo:%Y-%m-%d}") or (hi is not None and day > f"{hi:%Y-%m-%d}"):
            continue
        tables += [pq.read_table(path, schema=LOG_SCHEMA) for path in sorted(folder.glob("*.parquet"))]
    table = pa.concat_tables(tables) if tables else LOG_SCHEMA.empty_table()
    frame = table.to_pandas()
    if lo is not None:
        frame = frame[frame["time"] >= lo]
    if hi is not None:
        frame = frame[frame["time"] < hi]
    return frame.sort_values("time", kind="stable").reset_index(drop=True)[list(LOG_COLUMNS)]


def _utc(when: datetime | str) -> pd.Timestamp:
    ts = pd.Timestamp(when)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
