"""Open, populate and query the local Feast store (file offline store, SQLite online store, file registry).

The store is built from a RepoConfig in code rather than a feature_store.yaml lookup, so a flow can point
at any root (a tmp dir in tests, data/features in the pipeline) without changing directory. A
feature_store.yaml is still written into the root for people who want the `feast` CLI on the same store.
Feast is imported inside the functions: it costs ~6 s, and the CLI's --help must stay instant."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from features.config import FeatureConfig
from features.definitions import (
    CREATED,
    PRODUCTION_COLUMNS,
    PRODUCTION_FILE,
    PRODUCTION_PUSH,
    PRODUCTION_TIME,
    REQUEST_KEY,
    STUDY_KEY,
    definitions,
    embedding_file,
)
from features.sources import SCHEMAS, add_embeddings, ensure_source, sync_sources, utc

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = [
    "add_embeddings",
    "apply",
    "materialize",
    "online_features",
    "open_store",
    "push_production",
    "store_root",
    "sync_sources",
]

log = logging.getLogger(__name__)

REGISTRY, ONLINE = "registry.db", "online.db"
# `feast apply` in this folder would find no definitions (.py files) and plan to delete every view.
_YAML_NOTE = (
    "# Written by features.store.open_store for read-only CLI use (feast -c <root> feature-views list).\n"
    "# Register definitions with features.store.apply, not `feast apply`.\n"
)


def _yaml(project: str) -> dict:
    return {
        "project": project,
        "registry": REGISTRY,
        "provider": "local",
        "offline_store": {"type": "file"},
        "online_store": {"type": "sqlite", "path": ONLINE},
        "entity_key_serialization_version": 3,
    }


def open_store(root: Path, project: str = "echojepa") -> FeatureStore:
    """The feature store under `root` (created if absent); paths inside are relative to it."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text(_YAML_NOTE + yaml.safe_dump(_yaml(project), sort_keys=False))
    config = RepoConfig(
        project=project,
        registry=REGISTRY,
        provider="local",
        offline_store=DaskOfflineStoreConfig(),
        online_store=SqliteOnlineStoreConfig(path=ONLINE),
        entity_key_serialization_version=3,
        repo_path=root,
    )
    return FeatureStore(repo_path=str(root), config=config)


def store_root(store: FeatureStore) -> Path:
    return Path(store.config.repo_path or store.repo_path)


def apply(store: FeatureStore, config: FeatureConfig, versions: Iterable[str] = ()) -> list:
    """Register entities, views, the push source and one embedding view per encoder version.

    Missing label/quality/production files are created empty (Feast cannot query or push into a file that
    does not exist); a missing embeddings file is an error, since `add_embeddings` must run first."""
    root, versions = store_root(store), tuple(versions)
    for name, schema in SCHEMAS.items():
        ensure_source(root / name, schema)
    for version in versions:
        if not (root / embedding_file(version)).exists():
            raise FileNotFoundError(f"no embeddings for version {version!r} in {root}: run add_embeddings")
    objects = definitions(config, versions)
    store.apply(objects)
    log.info("feature store %s: applied %d objects", root, len(objects))
    return objects


def materialize(
    store: FeatureStore, end: datetime | None = None, views: Sequence[str] | None = None
) -> datetime:
    """Load the latest value per entity up to `end` into the online store; returns the end used.

    Everything from the epoch is materialized (a small local store; TTLs still apply). The end is pushed
    one second past `end`/now because the Dask offline store can miss a row that sits exactly on the end
    timestamp (feast#5228)."""
    end_ts = utc(end).to_pydatetime() + timedelta(seconds=1)
    start = datetime(1970, 1, 2, tzinfo=end_ts.tzinfo)
    store.materialize(start_date=start, end_date=end_ts, feature_views=list(views) if views else None)
    return end_ts


def online_features(
    store: FeatureStore, study_ids: Sequence[str], refs: Sequence[str], key: str = STUDY_KEY
) -> pd.DataFrame:
    """Online values of feature refs ("view:feature") per entity, in the order of `study_ids`.

    Unknown ids come back as rows of None/NaN rather than being dropped, so callers can align by position."""
    rows = [{key: str(s)} for s in study_ids]
    return store.get_online_features(features=list(refs), entity_rows=rows).to_df()


def push_production(store: FeatureStore, records: pd.DataFrame, offline: bool = True) -> int:
    """Push production-log records (Interfaces' columns) to the online store and, when `offline`, append
    them to production_log.parquet so that point-in-time queries and monitoring can read them later."""
    from feast.data_source import PushMode

    frame = records.copy()
    expected = {REQUEST_KEY, PRODUCTION_TIME, *(c for c, _ in PRODUCTION_COLUMNS)}
    missing = sorted(expected - set(frame.columns))
    if missing:
        raise ValueError(f"production records lack column(s): {', '.join(missing)}")
    frame[REQUEST_KEY] = frame[REQUEST_KEY].astype(str)
    frame[PRODUCTION_TIME] = pd.to_datetime(frame[PRODUCTION_TIME], utc=True)
    frame[CREATED] = utc(None)
    for col, kind in PRODUCTION_COLUMNS:
        if kind == "Array(Float32)":
            frame[col] = [[float(x) for x in v] for v in frame[col]]
        elif col == "warnings":  # a list of warning ids, stored comma-joined (see definitions)
            frame[col] = [v if isinstance(v, str) else ",".join(map(str, v)) for v in frame[col]]
        elif kind == "Float32":
            frame[col] = frame[col].astype("float32")
    frame = frame[[REQUEST_KEY, PRODUCTION_TIME, *(c for c, _ in PRODUCTION_COLUMNS), CREATED]]
    ensure_source(store_root(store) / PRODUCTION_FILE, SCHEMAS[PRODUCTION_FILE])
    mode = PushMode.ONLINE_AND_OFFLINE if offline else PushMode.ONLINE
    store.push(PRODUCTION_PUSH, frame, to=mode)
    return len(frame)
