"""Feast objects of the echo feature store: entities, file sources, feature views and the push source.

Everything is built by functions rather than at import time, so that `import features` stays free of
Feast's ~6 s import (the CLI's --help must be instant) and so that the TTLs come from params.yaml. The
source paths are relative to the store root (RepoConfig.repo_path), so a copied or DVC-pulled store keeps
working wherever it lands."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from features.config import FeatureConfig
from ultrasound.quality import METRICS

if TYPE_CHECKING:
    from feast import Entity, FeatureView

STUDY_KEY, PATIENT_KEY, REQUEST_KEY = "study_id", "patient_id", "request_id"
CREATED = "created_timestamp"  # wall time a row was written: breaks ties between rows of equal event time

LABELS_FILE, QUALITY_FILE, PATIENTS_FILE = "labels.parquet", "quality.parquet", "patients.parquet"
PRODUCTION_FILE = "production_log.parquet"
LABEL_TIME, EVENT_TIME, PRODUCTION_TIME = "label_timestamp", "event_timestamp", "time"

LABELS_VIEW, QUALITY_VIEW, PATIENTS_VIEW = "study_labels", "study_quality", "patient_studies"
PRODUCTION_VIEW, PRODUCTION_PUSH = "production_log", "production_log_push"

# (column, Feast type name): one table per source, in the column order the parquet files are written in.
# The order matters for the push source: Feast's offline write demands exactly the file's column order.
LABEL_COLUMNS = (
    ("EF", "Float32"),
    ("View", "String"),
    ("Split", "String"),
    ("Cohort", "String"),
    ("Device", "String"),
    ("PatientID", "String"),
    ("StudyDate", "String"),
)
QUALITY_COLUMNS = tuple((m, "Float32") for m in METRICS)
PATIENT_COLUMNS = (("n_studies", "Int64"), ("Cohort", "String"))
PRODUCTION_COLUMNS = (
    ("model_version", "String"),
    *QUALITY_COLUMNS,
    # Comma-joined warning ids ("" for none), not Array(String): Feast 0.67's file-source type map has no
    # entry for parquet's "list<element: string>", so offline pushes of string lists fail.
    ("warnings", "String"),
    ("ef", "Float32"),
    ("view", "String"),
    ("view_probs", "Array(Float32)"),
    ("embedding", "Array(Float32)"),
    ("latency_ms", "Float32"),
)


def embedding_view_name(version: str) -> str:
    """Feast-safe view name of an encoder version.

    Feast names allow letters, digits and '_' only; versions like `jepa-tiny@2026.01` do not. A short
    hash of the original is appended whenever characters were replaced, so two versions never collide."""
    safe = re.sub(r"\W", "_", version, flags=re.ASCII).strip("_") or "v"
    if safe != version:
        safe += "_" + hashlib.sha1(version.encode()).hexdigest()[:6]
    return f"embeddings_{safe}"


def embedding_file(version: str) -> str:
    return f"{embedding_view_name(version)}.parquet"


def feast_type(name: str) -> Any:
    """The Feast type for one of the names used in the column tables above."""
    from feast import types

    if name.startswith("Array("):
        return types.Array(getattr(types, name[6:-1]))
    return getattr(types, name)


def _ttl(days: int | None) -> timedelta:
    return timedelta(days=days) if days else timedelta(0)  # 0: no expiry in Feast


def _view(name: str, entity: Entity, source: Any, columns: tuple, ttl: timedelta, **tags: str) -> FeatureView:
    from feast import FeatureView, Field

    fields = [Field(name=col, dtype=feast_type(kind)) for col, kind in columns]
    return FeatureView(
        name=name, entities=[entity], ttl=ttl, schema=fields, source=source, online=True, tags=tags
    )


def entities() -> dict[str, Entity]:
    """study (FileName), patient (PatientID) and request (a served prediction; no patient identifier)."""
    from feast import Entity, ValueType

    return {
        "study": Entity(name="study", join_keys=[STUDY_KEY], value_type=ValueType.STRING),
        "patient": Entity(name="patient", join_keys=[PATIENT_KEY], value_type=ValueType.STRING),
        "request": Entity(name="request", join_keys=[REQUEST_KEY], value_type=ValueType.STRING),
    }


def _file(name: str, path: str, timestamp: str) -> Any:
    from feast import FileSource

    return FileSource(name=name, path=path, timestamp_field=timestamp, created_timestamp_column=CREATED)


def embedding_view(version: str, study: Entity, config: FeatureConfig) -> FeatureView:
    """One view per encoder version: the pooled per-video embedding, Array(Float32)."""
    name = embedding_view_name(version)
    source = _file(f"{name}_source", embedding_file(version), EVENT_TIME)
    columns = (("embedding", "Array(Float32)"),)
    return _view(name, study, source, columns, _ttl(config.quality_ttl_days), encoder_version=version)


def production_push_source() -> Any:
    """The serving side's write path: records pushed here land in the online store and, with
    PushMode.ONLINE_AND_OFFLINE, are appended to production_log.parquet (the batch source)."""
    from feast import PushSource

    batch = _file(f"{PRODUCTION_VIEW}_batch", PRODUCTION_FILE, PRODUCTION_TIME)
    return PushSource(name=PRODUCTION_PUSH, batch_source=batch)


def definitions(config: FeatureConfig, versions: tuple[str, ...] = ()) -> list:
    """Every object `apply` registers: entities, the study/patient views, the embedding views of
    `versions` and the production push source with its request-keyed view."""
    ents = entities()
    study = ents["study"]
    labels = _file(f"{LABELS_VIEW}_source", LABELS_FILE, LABEL_TIME)
    quality = _file(f"{QUALITY_VIEW}_source", QUALITY_FILE, EVENT_TIME)
    patients = _file(f"{PATIENTS_VIEW}_source", PATIENTS_FILE, EVENT_TIME)
    push = production_push_source()
    views = [
        _view(LABELS_VIEW, study, labels, LABEL_COLUMNS, _ttl(config.label_ttl_days)),
        _view(QUALITY_VIEW, study, quality, QUALITY_COLUMNS, _ttl(config.quality_ttl_days)),
        _view(PATIENTS_VIEW, ents["patient"], patients, PATIENT_COLUMNS, _ttl(config.label_ttl_days)),
        _view(PRODUCTION_VIEW, ents["request"], push, PRODUCTION_COLUMNS, _ttl(config.production_ttl_days)),
        *(embedding_view(v, study, config) for v in versions),
    ]
    return [*ents.values(), push, *views]
