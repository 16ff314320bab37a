"""Monitoring's inputs: the production model's reference and the current window of the production log.

The reference is `reference.parquet` inside the BentoML model that the release ledger names as production
(release.package; written at packaging): FileName, the quality metrics, one prediction column per probe
task (`ef`, `view`) and the pooled `embedding`. The production log is Interfaces' append-only
`<serving.production_log>/date=YYYY-MM-DD/<worker>-<batch>.parquet`, one row per request. Every failure
here is a one-line MonitoringError that says what to do, never a traceback; a log file that cannot be read
is skipped and named in the run's result instead (a corrupt file must not hide a day of drift).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from release.config import ReleaseConfig

log = logging.getLogger(__name__)

REFERENCE_FILE = "reference.parquet"
EVALUATION_FILE = "evaluation.json"
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([hd])$")  # "36h", "7d": before --until


class MonitoringError(ValueError):
    """Monitoring cannot run on what it was given (one line, says what to do)."""


class InsufficientWindow(MonitoringError):
    """The window holds fewer production rows than monitoring.min_window: nothing can be claimed."""


@dataclass(frozen=True)
class Reference:
    """The reference frame and the model it belongs to."""

    frame: pd.DataFrame
    model_version: str
    source: str  # the bento tag or the file it came from
    evaluated_ef_mae: float | None = None  # the served model's TEST EF MAE, from its packaged evaluation.json


def read_reference(path: Path, model_version: str = "unknown") -> Reference:
    """A reference parquet file given explicitly (`--reference`)."""
    path = Path(path)
    if not path.is_file():
        raise MonitoringError(f"reference {path} not found")
    return Reference(check_columns(pd.read_parquet(path), f"reference {path}"), model_version, str(path))


def packaged_ef_mae(model_dir: Path) -> float | None:
    """The EF MAE in a packaged model's own evaluation.json: what the served probes scored on TEST (the
    delayed-label baseline), None when the model carries no measured EF MAE."""
    import json

    from evaluation.results import dig, measured

    path = Path(model_dir) / EVALUATION_FILE
    if not path.is_file():
        return None
    value = dig(json.loads(path.read_text()), "metrics", "ef_mae")
    return float(value) if measured(value) else None


def production_reference(release: ReleaseConfig) -> Reference:
    """The reference packaged with the production model of params.yaml's release ledger, read through its
    witnesses (a cut-off tail of the ledger is noticed, as serving notices it)."""
    from release.ledger import open_ledger
    from release.package import PackageError, production_model

    ledger_path = Path(release.ledger)
    try:
        model = production_model(open_ledger(release))
    except PackageError as exc:
        raise MonitoringError(str(exc)) from None
    if model is None:
        raise MonitoringError(
            f"no production model: {ledger_path} records no promotion yet; release one "
            "(`echojepa retrain`) or pass --reference PATH"
        )
    path = Path(model.path_of(REFERENCE_FILE))
    if not path.is_file():
        raise MonitoringError(f"production model {model.tag} has no {REFERENCE_FILE}; repackage it")
    metadata = model.info.metadata
    return Reference(
        check_columns(pd.read_parquet(path), f"reference {model.tag}/{REFERENCE_FILE}"),
        str(metadata.get("model_version") or model.tag.version),
        str(model.tag),
        packaged_ef_mae(Path(model.path)),
    )


def check_columns(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """`frame` when it holds every quality metric (the cause classifier needs them all), else a
    MonitoringError naming what is missing."""
    from ultrasound.quality import METRICS

    if frame.empty:
        raise MonitoringError(f"{what} is empty")
    missing = [m for m in METRICS if m not in frame]
    if missing:
        shown = ", ".join(missing[:4]) + (" …" if len(missing) > 4 else "")
        raise MonitoringError(f"{what} lacks quality metric column(s) {shown}")
    return frame


def parse_time(text: str | datetime | None, until: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """A UTC timestamp from ISO text ("2026-11-28", "2026-11-28T06:00") or a span before `until`
    ("36h", "7d"); naive times are UTC."""
    if text is None or text == "":
        return None
    if isinstance(text, str) and (match := _RELATIVE.match(text.strip())):
        amount, unit = float(match[1]), match[2]
        end = until if until is not None else pd.Timestamp.now(tz=UTC)
        return end - (timedelta(hours=amount) if unit == "h" else timedelta(days=amount))
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise MonitoringError(
            f"cannot read time {text!r}; use e.g. 2026-11-28, 2026-11-28T06:00 or 36h"
        ) from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def window_bounds(
    since: str | datetime | None, until: str | datetime | None, window_days: float
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[since, until): until defaults to now, since to `window_days` before until."""
    end = parse_time(until) or pd.Timestamp.now(tz=UTC)
    start = parse_time(since, end) or end - timedelta(days=window_days)
    if start >= end:
        raise MonitoringError(
            f"empty window: since {start.isoformat()} is not before until {end.isoformat()}"
        )
    return start, end


@dataclass(frozen=True)
class SkippedFile:
    """A log file left out of a run because it cannot be read as production rows (named in the result)."""

    path: str
    error: str  # one line

    def note(self) -> str:
        return f"skipped unreadable production-log file {self.path} ({self.error})"


def read_production_log(
    root: Path, since: pd.Timestamp, until: pd.Timestamp, skipped: list[SkippedFile] | None = None
) -> pd.DataFrame:
    """Rows of the hive-partitioned log with since <= time < until (only the date folders in range are
    read), sorted by time; an empty frame when none. Unreadable files are left out and added to
    `skipped` (see read_current)."""
    root = Path(root)
    if not root.is_dir():
        raise MonitoringError(f"production log {root} does not exist; is serving writing to it?")
    first, last = since.strftime("%Y-%m-%d"), until.strftime("%Y-%m-%d")
    folders = [
        d for d in sorted(root.glob("date=*")) if d.is_dir() and first <= d.name.removeprefix("date=") <= last
    ]
    frame = read_current([f for d in folders for f in sorted(d.glob("*.parquet"))], skipped)
    if frame.empty:
        return frame
    return frame[(frame.time >= since) & (frame.time < until)].sort_values("time").reset_index(drop=True)


def read_current(paths: list[Path], skipped: list[SkippedFile] | None = None) -> pd.DataFrame:
    """Production-log rows from explicit parquet files or folders of them (`--current`).

    A file that cannot be read (cut by a disk fault, overwritten, not parquet) or that holds no `time`
    column is left out with a warning and appended to `skipped`, so one bad file costs its own rows, not
    the whole run; the run names it in its result.

    Raises:
        MonitoringError: a path given does not exist.
    """
    import pyarrow.parquet as pq

    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(path.rglob("*.parquet")))
        elif path.is_file():
            files.append(path)
        else:
            raise MonitoringError(f"current data {path} not found")
    frames = []
    for file in files:
        try:
            frame = pq.read_table(file).to_pandas()
            if "time" not in frame:
                raise ValueError("no `time` column; not a production log")
            frames.append(frame)
        except Exception as exc:  # a half-written, corrupt or foreign file: name it, keep the others
            bad = SkippedFile(str(file), f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
            log.warning("monitoring: %s", bad.note())
            if skipped is not None:
                skipped.append(bad)
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame
