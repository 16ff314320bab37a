"""Typed config of the `features:` section of params.yaml (the Feast feature store).

Frozen and `extra="forbid"` like every other section, so a mistyped key fails loudly and names itself
instead of silently falling back to a default store location."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Feast project names: letters, digits and underscores, not starting with an underscore.
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


class FeatureConfig(BaseModel):
    """Where the local feature store lives and how long its values stay valid.

    The local provider keeps everything under `root`: registry.db (file registry), online.db (SQLite online
    store), the parquet sources (labels, quality, embeddings_<version>, production_log) and a
    feature_store.yaml for `feast` CLI users (`feast -c data/features feature-views list`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    root: str
    project: str
    # None: a label never expires (a study's EF does not go stale); days otherwise. Applied to study_labels.
    label_ttl_days: int | None = Field(gt=0)
    # Quality metrics and embeddings are properties of a fixed video: no expiry by default either.
    quality_ttl_days: int | None = Field(gt=0)
    # Production requests are only interesting while recent (monitoring windows), hence a TTL.
    production_ttl_days: int | None = Field(gt=0)
    # What feast_frame_source does with a study of the token cache that Feast has no EF label for.
    missing_labels: Literal["raise", "exclude"]

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not _PROJECT.match(value):
            raise ValueError(f"features.project {value!r}: use letters, digits and '_' (Feast's rule)")
        return value

    def root_path(self, base: Path | None = None) -> Path:
        """The store root, resolved against `base` (the repo root) when relative."""
        root = Path(self.root)
        return root if root.is_absolute() or base is None else Path(base) / root
