"""Typed config of params.yaml's `release:` section: who may review, how long a candidate waits, where the
ledger and the model store live, and the optional export.

Frozen and `extra="forbid"` like every section, so a mistyped key (`reviewer` for `reviewers`) fails with
one line naming it instead of silently releasing with an empty allow-list.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ReleaseConfig(BaseModel):
    """params.yaml's `release` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reviewers: list[str] = Field(description="allow-list; empty = anyone but the initiator")
    approval_timeout_hours: float = Field(gt=0, description="then the candidate expires")
    model_name: str = Field(min_length=1, description="BentoML model name")
    ledger: Path = Field(description="the release ledger")
    export_s3_url: str | None = Field(description="s3:// prefix to export each packaged model to")

    @property
    def allow_list(self) -> tuple[str, ...] | None:
        return tuple(self.reviewers) or None
