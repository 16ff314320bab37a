"""The production log: one row per served prediction, as append-only parquet files that monitoring reads.

Layout (Interfaces, ARCHITECTURE.md): `<root>/date=YYYY-MM-DD/<worker>-<batch>.parquet`. A file is never
rewritten: each flush writes a new one (written under a temporary name, then linked into place, so a
reader never sees half a file and an existing name is never replaced). Columns are exactly LOG_COLUMNS,
typed by LOG_SCHEMA; no column holds a patient identifier (`study_id` is an HMAC pseudonym).

Rows are buffered and written by a background thread `flush_rows` rows at a time, or `flush_seconds`
after the oldest buffered row, and on `close()`. After each write, `sinks` (the Feast push) receive the
batch; a failing sink is logged and counted, never raised into a request.
"""

from __future__ import annotations

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
    """Buffered, append-only writer of production rows under `root` (thread-safe)."""

    def __init__(
        self,
        root: str | Path,
        *,
        flush_rows: int = 64,
        flush_seconds: float = 1.0,
        sinks: Sequence[Sink] = (),
        worker: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.sinks = list(sinks)
        self.worker = worker or _worker_name()
        self.written_rows = 0
        self.failed_rows = 0
        self._rows: list[dict] = []
        self._first_at = 0.0
        self._batch = 0
        self._closing = False
        self._wake = threading.Condition()
        self._flushing = threading.Lock()  # one flush at a time: batch numbers never collide
        self._thread = threading.Thread(target=self._run, name="production-log", daemon=True)
        self._thread.start()

    def append(self, row: dict) -> None:
        """Buffer one row (a dict with every LOG_COLUMNS key); the writer thread flushes it."""
        with self._wake:
            if not self._rows:
                self._first_at = time.monotonic()
            self._rows.append(row)
            if len(self._rows) == 1 or len(self._rows) >= self.flush_rows:
                self._wake.notify()  # the writer starts its flush_seconds clock, or flushes now

    def flush(self) -> list[Path]:
        """Write every buffered row now (one file per UTC date); returns the files written."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> list[Path]:
        with self._wake:
            rows, self._rows = self._rows, []
        if not rows:
            return []
        try:
            table = to_table(rows)
        except Exception:
            self.failed_rows += len(rows)
            log.exception("production log: %d rows could not be converted and are dropped", len(rows))
            return []
        paths = []
        days = pd.Series(pd.to_datetime([r["time"] for r in rows], utc=True)).dt.strftime("%Y-%m-%d")
        for day in sorted(set(days)):
            part = table.filter(pa.array((days == day).to_numpy()))
            try:
                paths.append(self._write(part, day))
                self.written_rows += part.num_rows
            except Exception:  # the writer thread must survive any write failure; the rows are counted
                self.failed_rows += part.num_rows
                log.exception("production log: cannot write %d rows under %s", part.num_rows, self.root)
        frame = table.to_pandas()
        for sink in self.sinks:
            try:
                sink(frame)
            except Exception as exc:  # a sink must never lose the log or fail a request
                log.warning("production log sink %s failed: %s", getattr(sink, "__name__", sink), exc)
        return paths

    def _write(self, table: pa.Table, day: str) -> Path:
        folder = self.root / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        self._batch += 1
        final = folder / f"{self.worker}-{self._batch:06d}.parquet"
        tmp = folder / f".{final.name}.tmp"
        pq.write_table(table, tmp)
        try:
            os.link(tmp, final)  # fails rather than replace an existing file
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def close(self) -> None:
        """Flush what is buffered and stop the writer thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout=60)
        self.flush()

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
            self.flush()


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
