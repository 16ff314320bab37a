"""Settings of the data contracts (the `validate:` section of params.yaml) and the one batch-level error.

Everything a reviewer may want to tighten lives here rather than in the suites, so a contract change is a
params change that DVC sees and that shows up in the run's recorded parameters.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ultrasound.echonet import ECHONET_COLUMNS, PLATFORM_COLUMNS  # noqa: F401  (re-exported)

# ECHONET_COLUMNS (ultrasound.echonet): without them a manifest is not a dataset. PLATFORM_COLUMNS: real
# data often lacks them; the Interfaces section of ARCHITECTURE.md fixes their defaults (PatientID falls
# back to the file name, StudyDate to the validation date).
NUMERIC_COLUMNS = ("EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames")
LABEL_COLUMNS = ("EF", "ESV", "EDV")

# Contract ranges of a few quality metrics (params.yaml `validate.quality_ranges`) reject garbage, not
# degraded images. Measured with data_contracts.facts on 300 simulated videos (seed 3, mixed cohort):
# brightness 34-70, contrast 44-57, dynamic_range 148-168, sector_coverage 0.60-0.72; every perturbation
# kind at high severity stays inside (lowest: brightness 7.2, contrast 17, dynamic_range 77, sector_coverage
# 0.23, all under dynamic_range). A constant grey clip gives contrast 0 and dynamic_range 0, a black one
# brightness 0, and uniform noise fills the frame (sector_coverage 1.0); each lies far outside. Degradations
# are monitoring's business.


class ContractError(ValueError):
    """A manifest the contracts cannot even be run on (absent, unparseable, missing columns).

    The message is one line naming the file and the problem, so a CLI can print it as-is."""


class ContractConfig(BaseModel):
    """What a dataset must satisfy before training sees it, and how much of it may be quarantined."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_quarantine_share: float = Field(ge=0.0, le=1.0)
    ef_tolerance: float = Field(ge=0.0, description="EF points allowed between EF and its volumes")
    min_frames: int = Field(ge=1, description="one training clip: 16 frames x stride 4")
    views: tuple[str, ...]
    splits: tuple[str, ...]
    cohorts: tuple[str, ...]
    resolution_tolerance: int = Field(ge=0, description="pixels between decoded and declared size")
    frame_count_tolerance: int = Field(ge=0, description="frames between decoded and declared count")
    fps_tolerance: float = Field(ge=0.0, description="frames per second, declared vs container")
    quality_ranges: dict[str, tuple[float, float]]  # see the measurements above
    workers: int = Field(ge=0, description="processes measuring video facts; 0 = every core")
    max_decoded_mb: float = Field(gt=0, description="one video's decoded pixels, from its header")

    @model_validator(mode="after")
    def _check_ranges(self) -> ContractConfig:
        from ultrasound.quality import METRICS

        for metric, (lo, hi) in self.quality_ranges.items():
            if metric not in METRICS:
                raise ValueError(f"quality_ranges: unknown metric {metric!r}; known: {', '.join(METRICS)}")
            if lo > hi:
                raise ValueError(f"quality_ranges.{metric}: low {lo} is above high {hi}")
        for name in ("views", "splits", "cohorts"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        return self
