"""Typed config of params.yaml's `simulate:` section: how big the embedded synthetic datasets are.

Frozen and `extra="forbid"` like every section; the DVC stages `simulate@<name>` (one per entry, through
dvc.yaml's `foreach`) pass these values to `echojepa simulate`, so a change re-renders that dataset.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SimulatedSet(BaseModel):
    """One simulated dataset: data/raw/<name>, written by the DVC stage `simulate@<name>`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    n_videos: int = Field(gt=0)
    seed: int
    cohort: Literal["adult", "pediatric", "mixed"]


class SimulateConfig(BaseModel):
    """params.yaml `simulate:`: which simulated datasets the pipeline renders (the adult training set and
    the pediatric zero-shot set by default; `{}` when the pipeline runs on real data, so `dvc repro`
    simulates nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    datasets: dict[str, SimulatedSet]
