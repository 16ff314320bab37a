"""The parquet files behind the feature views: written with pandas/pyarrow only (no Feast import).

Labels are history, not state: a sync appends a row only for a study that is new or whose labels changed,
stamped with the label time, so a corrected EF becomes a later row and point-in-time joins can still answer
"what did we believe at time t". Re-running a sync with unchanged inputs appends nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.definitions import (
    CREATED,
    EVENT_TIME,
    LABEL_COLUMNS,
    LABEL_TIME,
    LABELS_FILE,
    PATIENT_COLUMNS,
    PATIENT_KEY,
    PATIENTS_FILE,
    PRODUCTION_COLUMNS,
    PRODUCTION_FILE,
    PRODUCTION_TIME,
    QUALITY_COLUMNS,
    QUALITY_FILE,
    REQUEST_KEY,
    STUDY_KEY,
    embedding_file,
)

log = logging.getLogger(__name__)

_ARROW = {"Float32": pa.float32(), "String": pa.string(), "Int64": pa.int64()}
_TS = pa.timestamp("us", tz="UTC")
# Interfaces' defaults for manifest columns that real data may lack.
_DEFAULTS = {"View": "A4C", "Cohort": "adult", "Device": "unknown", "StudyDate": ""}


def arrow_type(kind: str) -> pa.DataType:
    if kind.startswith("Array("):
        return pa.list_(_ARROW[kind[6:-1]])
    return _ARROW[kind]


def source_schema(key: str, timestamp: str, columns: tuple) -> pa.Schema:
    """key, event time, feature columns, created time: the fixed layout of every source file."""
    fields = [(key, pa.string()), (timestamp, _TS), *((c, arrow_type(k)) for c, k in columns), (CREATED, _TS)]
    return pa.schema(fields)


SCHEMAS = {
    LABELS_FILE: source_schema(STUDY_KEY, LABEL_TIME, LABEL_COLUMNS),
    QUALITY_FILE: source_schema(STUDY_KEY, EVENT_TIME, QUALITY_COLUMNS),
    PATIENTS_FILE: source_schema(PATIENT_KEY, EVENT_TIME, PATIENT_COLUMNS),
    PRODUCTION_FILE: source_schema(REQUEST_KEY, PRODUCTION_TIME, PRODUCTION_COLUMNS),
}


def utc(when: datetime | str | None) -> pd.Timestamp:
    """A tz-aware UTC timestamp; naive input is taken as UTC; None is now."""
    ts = pd.Timestamp(when if when is not None else datetime.now(UTC))
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def read_source(path: Path, schema: pa.Schema) -> pd.DataFrame:
    """A source file as a frame; an empty, correctly typed frame when the file does not exist yet."""
    table = pq.read_table(path) if Path(path).exists() else schema.empty_table()
    return table.to_pandas()


def write_source(frame: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    """Write with the declared schema, so an empty or all-NaN column keeps its Feast type."""
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)  # atomic: a concurrent Feast read never sees half a file


def ensure_source(path: Path, schema: pa.Schema) -> None:
    """An empty source file, so that Feast can query (and push into) a view before any data exists."""
    if not Path(path).exists():
        write_source(pd.DataFrame(columns=schema.names), path, schema)


def latest(frame: pd.DataFrame, key: str, timestamp: str) -> pd.DataFrame:
    """The current row per key: latest event time, then latest write (Feast's own tie-break)."""
    return frame.sort_values([timestamp, CREATED]).drop_duplicates(key, keep="last").set_index(key)


def append_changed(
    path: Path, new: pd.DataFrame, key: str, timestamp: str, columns: tuple, when: pd.Timestamp
) -> int:
    """Append rows of `new` (indexed by key) whose values differ from the current ones; return the count."""
    schema = source_schema(key, timestamp, columns)
    old = read_source(path, schema)
    names = [c for c, _ in columns]
    current = latest(old, key, timestamp).reindex(new.index)
    same = pd.Series(True, index=new.index)
    for col, kind in columns:
        a, b = new[col], current[col]
        if kind == "Float32":  # compare at the stored precision; NaN equals NaN (an unlabelled study)
            a, b = a.astype("float32"), b.astype("float32")
        same &= (a == b) | (a.isna() & b.isna())
    changed = new.loc[~same.to_numpy(), names]
    if changed.empty:
        return 0
    stale = current.loc[changed.index, timestamp].dropna()
    if (stale >= when).any():
        raise ValueError(
            f"{path.name}: time {when} is not after the current row of {int((stale >= when).sum())} "
            f"changed key(s), e.g. {stale[stale >= when].index[0]!r}; a correction needs a later time"
        )
    rows = changed.reset_index(names=key).assign(**{timestamp: when, CREATED: utc(None)})
    write_source(pd.concat([old, rows], ignore_index=True), path, schema)
    return len(rows)


def _manifest_labels(manifest_csv: Path) -> pd.DataFrame:
    manifest = pd.read_csv(manifest_csv, dtype=str, keep_default_na=False, na_values=[""])
    for col, value in _DEFAULTS.items():
        manifest[col] = manifest.get(col, pd.Series(value, index=manifest.index)).fillna(value)
    manifest["PatientID"] = manifest.get("PatientID", manifest.FileName).fillna(manifest.FileName)
    manifest["EF"] = pd.to_numeric(manifest.get("EF"), errors="coerce")
    manifest = manifest.drop_duplicates("FileName", keep="last")
    return manifest.set_index("FileName")[[c for c, _ in LABEL_COLUMNS]].rename_axis(STUDY_KEY)


def sync_sources(
    store_root: Path,
    manifest_csv: Path,
    facts_csv: Path | None = None,
    label_time: datetime | None = None,
) -> dict[str, int]:
    """Bring labels.parquet, patients.parquet (and quality.parquet from facts.csv) up to the manifest.

    `label_time` (default now) is the event time of every row this sync adds: pass the time a label was
    assigned or corrected. Returns the rows appended per file, e.g. {"labels": 0, ...} on a no-op re-run."""
    root, when = Path(store_root), utc(label_time)
    labels = _manifest_labels(Path(manifest_csv))
    added = {"labels": append_changed(root / LABELS_FILE, labels, STUDY_KEY, LABEL_TIME, LABEL_COLUMNS, when)}
    current = latest(read_source(root / LABELS_FILE, SCHEMAS[LABELS_FILE]), STUDY_KEY, LABEL_TIME)
    grouped = current.groupby("PatientID")
    patients = pd.DataFrame({"n_studies": grouped.size(), "Cohort": grouped.Cohort.last()})
    patients = patients.rename_axis(PATIENT_KEY)
    added["patients"] = append_changed(
        root / PATIENTS_FILE, patients, PATIENT_KEY, EVENT_TIME, PATIENT_COLUMNS, when
    )
    if facts_csv is not None:
        facts = pd.read_csv(facts_csv, dtype={"FileName": str}).drop_duplicates("FileName", keep="last")
        facts = facts.set_index("FileName").rename_axis(STUDY_KEY)
        quality = facts.reindex(columns=[c for c, _ in QUALITY_COLUMNS]).apply(pd.to_numeric, errors="coerce")
        missing = [c for c, _ in QUALITY_COLUMNS if c not in facts]
        if missing:
            log.warning("facts.csv lacks quality metric(s) %s: stored as NaN", ", ".join(missing))
        added["quality"] = append_changed(
            root / QUALITY_FILE, quality, STUDY_KEY, EVENT_TIME, QUALITY_COLUMNS, when
        )
    log.info("feature sources in %s: appended %s", root, added)
    return added


def add_embeddings(
    store_root: Path, embeddings_dir: Path, version: str, event_time: datetime | None = None
) -> Path:
    """embeddings_<version>.parquet from pooled.npy + index.csv (one row per video, in index order).

    An encoder version's embeddings are immutable, so the file is rewritten rather than appended to.
    `event_time` (default now) is when they became available: a training frame as of an earlier time
    will not see them."""
    embeddings_dir = Path(embeddings_dir)
    index = pd.read_csv(embeddings_dir / "index.csv", dtype={"FileName": str})
    pooled = np.load(embeddings_dir / "pooled.npy").astype(np.float32)
    if len(index) != len(pooled):
        raise ValueError(f"{embeddings_dir}: index.csv has {len(index)} rows, pooled.npy {len(pooled)}")
    schema = source_schema(STUDY_KEY, EVENT_TIME, (("embedding", "Array(Float32)"),))
    frame = pd.DataFrame(
        {
            STUDY_KEY: index.FileName.to_numpy(),
            EVENT_TIME: utc(event_time),
            "embedding": list(pooled),
            CREATED: utc(None),
        }
    )
    path = Path(store_root) / embedding_file(version)
    write_source(frame, path, schema)
    return path
