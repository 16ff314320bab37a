"""Typed config of params.yaml's `simulate:` section: how big the embedded synthetic datasets are.

Frozen and `extra="forbid"` like every section; the DVC stages `simulate` and `simulate_pediatric` pass these
values to `echojepa simulate` (dvc.yaml interpolates them), so a change here re-renders the data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SimulateConfig(BaseModel):
    """params.yaml `simulate:`: the adult training set and the pediatric zero-shot set."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    n_videos: int = Field(gt=0)  # data/raw/synthetic
    seed: int
    cohort: Literal["adult", "pediatric", "mixed"]
    pediatric_videos: int = Field(ge=0)  # data/raw/synthetic-pediatric (the pediatric zero-shot set)
    pediatric_seed: int
