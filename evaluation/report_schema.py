"""The schema of reports/evaluation.json (pydantic, strict): every numeric field holds a number or a
NotMeasured `{"value": null, "reason": "..."}`, never a string; gate rows carry their direction and whether
they block. `write_report` checks every report against it before writing, and the tests check the files.

    check_report(json.loads(Path("reports/evaluation.json").read_text()))   # ValueError naming the field
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Unmeasured(_Strict):
    value: None
    reason: str = Field(min_length=1)


class Summary(_Strict):
    value: float  # the served ensemble's
    mean: float  # the single probes', over seeds
    std: float = Field(ge=0)


Metric = Summary | Unmeasured
Number = float | Unmeasured


class FractionPoint(_Strict):
    value: float
    mean: float
    std: float = Field(ge=0)
    train_examples: int = Field(ge=0)
    same_rows_as: str | None = None


class Metrics(_Open):
    ef_mae: Metric
    ef_rmse: Metric
    ef_r2: Metric
    view_accuracy: Metric
    view_macro_f1: Metric
    robustness_mean_increase: Number
    robustness_worst_increase: Number
    pediatric_ef_mae: Metric
    n_test: int = Field(ge=0)
    n_test_labelled: int = Field(ge=0)
    label_efficiency: dict[str, dict[str, FractionPoint]]


class RandomInit(_Open):
    ef_mae: Metric
    ef_rmse: Metric
    ef_r2: Metric
    view_accuracy: Metric
    view_macro_f1: Metric
    label_efficiency: dict[str, dict[str, FractionPoint]]


class MeanPredictor(_Strict):
    ef_mae: Number
    ef_rmse: float | None = None
    train_mean: float | None = None
    fit_on: str
    n_fit: int | None = None


class PerVideo(_Strict):
    """Per-video TEST EF: the paired comparisons' input (evaluation.bootstrap.paired_errors)."""

    FileName: list[str]
    true: list[float]
    predicted: list[float]


class PixelEstimator(_Strict):
    ef_mae: float = Field(ge=0)
    ef_rmse: float = Field(ge=0)
    tuned: dict[str, float]  # the CV-chosen ridge alpha or dark-area percentile, and cv_mae_train
    ef_predictions: PerVideo


class PixelBaselines(_Strict):
    """evaluation.baselines.pixel: the shortcut audit's pixel-only estimators on the probes' rows."""

    estimators: dict[str, PixelEstimator]
    best: str  # the lowest TEST MAE
    fit_on: Literal["TRAIN", "TRAIN+VAL"]
    n_fit: int = Field(ge=0)
    features: str  # "computed" or "reused <cache file>"

    @model_validator(mode="after")
    def _best_is_one(self) -> PixelBaselines:
        if self.best not in self.estimators:
            raise ValueError(f"best pixel baseline {self.best!r} is not one of {sorted(self.estimators)}")
        return self


class Baselines(_Open):
    random_init: RandomInit
    mean_predictor: MeanPredictor
    pixel: PixelBaselines | Unmeasured | None = None  # None: a report older than the pixel baselines


class ProbeProtocol(_Strict):
    """evaluation.probe_protocol.protocol_summary: the probe every table of the report was measured with."""

    kind: Literal["attentive", "linear"]
    depth: int = Field(ge=1)
    heads: int = Field(ge=1)  # probe heads of the lr × wd grid
    grid: list[list[float]]
    fit_on: Literal["TRAIN", "TRAIN+VAL"]
    selected_on: Literal["VAL"] | None
    temporal_contrast: bool
    text: str

    @model_validator(mode="after")
    def _selected_iff_grid(self) -> ProbeProtocol:
        if len(self.grid) != self.heads or (self.selected_on is not None) != (self.heads > 1):
            raise ValueError("a probe protocol selects on VAL exactly when its grid has more than one head")
        return self


class Gate(_Strict):
    name: str
    value: float | None
    reason: str | None = None
    threshold: float
    direction: Literal["<=", ">="]
    passed: bool
    advisory: bool
    blocks: bool
    waived: dict[str, str] | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _reason_iff_unmeasured(self) -> Gate:
        if (self.value is None) != (self.reason is not None):
            raise ValueError("a gate has a reason exactly when its value is not measured")
        if self.blocks != (not self.passed and not self.advisory):
            raise ValueError("blocks must equal failed-and-not-advisory")
        return self


class ReducedEF(_Strict):
    threshold: float
    n: int
    n_total: int
    ef_mae: Metric
    auroc: Metric
    mean_predictor_ef_mae: float | None = None
    small: bool = False


class Group(_Strict):
    n: int
    ef_mae: Summary
    small: bool = False


class Subgroups(_Open):
    reduced_ef: ReducedEF | dict[str, Unmeasured]
    device: dict[str, Group] | Unmeasured | None = None
    cohort: dict[str, Group] | Unmeasured | None = None


class Setting(_Strict):
    kind: str
    severity: str
    ef_mae: Summary
    relative_increase: float


class Robustness(_Strict):
    clean_ef_mae: Summary
    settings: list[Setting]
    mean_increase: Number
    worst_increase: Number
    worst_setting: str | None = None


class Pediatric(_Strict):
    dataset: str
    n: int
    ef_mae: Summary
    mean_predictor_ef_mae: float | None = None


class RankFigures(_Strict):
    pooled: float = Field(ge=0)  # RankMe of the raw token-mean embeddings
    tokens: float = Field(ge=0)  # RankMe of the tokens centred per position (the gated figure)


class RankStep(_Strict):
    step: int = Field(ge=0)
    encoder: str
    pooled: float = Field(ge=0)
    tokens: float = Field(ge=0)
    clips: int = Field(ge=0)


class EffectiveRanks(_Strict):
    """The collapse monitor (model.collapse): RankMe on `clips` held-out clips."""

    clips: int = Field(ge=2)
    split: str
    width: int = Field(ge=1)
    served: RankFigures
    random_init: RankFigures
    target_encoder: RankFigures | None = None  # V-JEPA's EMA target, when the run saved one (not gated)
    by_step: list[RankStep] | None = None  # pretraining's per-checkpoint figures
    encoder: str


class PairedComparison(_Strict):
    """evaluation.comparisons: candidate − baseline EF MAE over shared TEST videos, 95 % paired bootstrap."""

    difference: float
    low: float
    high: float
    n: int = Field(ge=2)
    level: float = Field(gt=0, lt=1)
    excludes_zero: bool
    candidate_mae: float = Field(ge=0)
    baseline_mae: float = Field(ge=0)
    text: str
    baseline: str | None = None  # which pixel-only estimator, for the comparison with the best of them

    @model_validator(mode="after")
    def _ordered(self) -> PairedComparison:
        if not self.low <= self.difference <= self.high:
            raise ValueError(
                f"interval [{self.low}, {self.high}] does not hold its difference {self.difference}"
            )
        return self


class EvaluationReport(_Open):
    metrics: Metrics
    baselines: Baselines
    subgroups: Subgroups
    robustness: Robustness | Unmeasured
    pediatric: Pediatric | Unmeasured
    effective_rank: EffectiveRanks | Unmeasured | None = None  # None: a report older than the monitor
    comparisons: dict[str, PairedComparison | Unmeasured] | None = None  # None: a report older than them
    probe_protocol: ProbeProtocol | None = None  # None: a report older than the probe selection
    gates: list[Gate]
    probes: dict[str, str]  # "ef/seed-0.pt" -> sha256 of the packaged, served file
    test_set: dict[str, int | str]
    data_version: str
    model_version: str
    warnings: list[str] = []

    @model_validator(mode="after")
    def _hashes(self) -> EvaluationReport:
        for name, digest in self.probes.items():
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"probes.{name}: not a sha256 hex digest")
        return self


def check_report(report: dict) -> EvaluationReport:
    """Validate an evaluation report (its JSON form); ValueError naming the first bad field."""
    try:
        return EvaluationReport.model_validate(report)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"evaluation report: {where}: {first['msg']}") from None
