"""Typed, frozen configs of params.yaml's `evaluate:` (what is measured) and `gates:` (what must hold).

How the gate defaults were chosen, from evaluations of the 300-video simulator (47 TEST studies, 3 probe
seeds, tiny preset, 2026-11-29): the TRAIN-mean predictor scores EF MAE 10.7; the best *constant* (the TEST
median) 9.2, i.e. a 0.14 margin over the mean, because the simulated EF is skewed; the random-init encoder
9.20 ± 0.60 over seeds (view accuracy 0.97); the spike's JEPA-500 encoders 9.12 (context) and 9.48 (EMA
target), with EF predictions nearly constant (R² ≈ 0) and view accuracy 0.79 / 0.62.
- Margins carry the decision. `ef_mae_margin_over_random_init` 0.05: a zero-step candidate *is* the
  random-init encoder (same seed), so its margin is exactly 0 and it fails; 0.05 is about one standard
  error of the 3-seed mean of the random-init MAE, so noise alone rarely passes it.
  `ef_mae_margin_over_mean_predictor` 0.20: above the 0.14 a constant predictor reaches here, i.e. the
  probe must track EF (0.20 is about R² ≈ 0.35). A healthy tiny model that encodes EF clears both; the
  encoders trained so far do not (they fail these gates, as they should).
- Absolute gates are sanity bounds: EF MAE ≤ 10 (mean predictor 10.7; EchoJEPA-L reaches 5.8 on real
  data), view accuracy ≥ 0.5 (5 views, chance 0.2), robustness mean / worst relative MAE increase ≤ 0.25 /
  0.5 (EchoJEPA +2.3 %, EchoPrime +16.8 % mean; the JEPA-500 context encoder +35 % / +55 %), pediatric
  zero-shot MAE ≤ 15 (mean predictor there 12.4), reduced-EF (< 40) MAE ≤ 20 (mean predictor 24.7) and
  AUROC ≥ 0.7.
- No regression: EF MAE at most 0.5 points worse than production, view accuracy at most 0.05 lower, about
  the seed-to-seed spread of the probes on 47 TEST studies, so a re-run of the same model passes.
Tighten all of them for real data (`gates:` in params.yaml).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ultrasound.perturbations import PERTURBATION_KINDS, SEVERITIES


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EvaluationConfig(Section):
    """params.yaml `evaluate:`: robustness grid, pediatric shift set, subgroups, probe seeds and fractions."""

    robustness_kinds: tuple[str, ...] = ("depth_attenuation", "gaussian_shadow")  # EchoJEPA's two families
    severities: tuple[str, ...] = SEVERITIES
    perturbation_seed: int = 0  # per-video draws (shadow centre) come from (seed, video index)
    pediatric_dataset: str | None = "synthetic-pediatric"  # data/raw/<name>; absent or null -> "n/a"
    reduced_ef_threshold: float = Field(40.0, gt=0, lt=100)  # HFrEF: EF < 40 %
    view_fractions: tuple[float, ...] = (0.01, 1.0)  # label efficiency of the view probe
    ef_fractions: tuple[float, ...] = (1.0,)  # add 0.01 for an EF label-efficiency curve (costs probes)
    probe_seeds: tuple[int, ...] = (0, 1, 2)  # metrics are mean ± std over these
    clips_per_video: int = Field(3, gt=0)  # test-time averaging

    @field_validator("robustness_kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        for kind in kinds:
            if kind not in PERTURBATION_KINDS:
                raise ValueError(f"unknown perturbation kind {kind!r}; expected one of {PERTURBATION_KINDS}")
        return kinds

    @field_validator("severities")
    @classmethod
    def _known_severities(cls, severities: tuple[str, ...]) -> tuple[str, ...]:
        for severity in severities:
            if severity not in SEVERITIES:
                raise ValueError(f"unknown severity {severity!r}; expected one of {SEVERITIES}")
        return severities

    @field_validator("view_fractions", "ef_fractions")
    @classmethod
    def _fractions(cls, fractions: tuple[float, ...]) -> tuple[float, ...]:
        if not fractions or any(not 0 < f <= 1 for f in fractions) or 1.0 not in fractions:
            raise ValueError("fractions must lie in (0, 1] and include 1.0 (the headline metric)")
        return tuple(sorted(fractions))

    @field_validator("probe_seeds")
    @classmethod
    def _seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if not seeds:
            raise ValueError("at least one probe seed")
        return seeds

    def pediatric_dir(self, root: str | Path) -> Path | None:
        return None if self.pediatric_dataset is None else Path(root) / self.pediatric_dataset


class RegressionTolerance(Section):
    """How much worse than production a candidate may be on the same TEST set."""

    ef_mae: float = Field(0.5, ge=0)  # EF points of MAE
    view_accuracy: float = Field(0.05, ge=0)  # accuracy (0–1)


class GatesConfig(Section):
    """params.yaml `gates:`: absolute bounds, margins over the same run's baselines, no regression."""

    ef_mae_max: float = Field(10.0, gt=0)
    view_accuracy_min: float = Field(0.5, ge=0, le=1)
    robustness_mean_increase_max: float = 0.25  # relative EF-MAE increase under perturbation, mean
    robustness_worst_increase_max: float = 0.5  # ... and the worst kind × severity
    pediatric_mae_max: float = Field(15.0, gt=0)  # adult-trained probe, pediatric cohort (zero-shot)
    reduced_ef_mae_max: float = Field(20.0, gt=0)  # studies with EF below evaluate.reduced_ef_threshold
    reduced_ef_auroc_min: float = Field(0.7, ge=0, le=1)  # detecting reduced EF from the predicted EF
    ef_mae_margin_over_random_init: float = 0.05  # 1 − MAE / MAE(random-init encoder) must reach this
    ef_mae_margin_over_mean_predictor: float = 0.20  # 1 − MAE / MAE(TRAIN mean)
    no_regression_tolerance: RegressionTolerance = RegressionTolerance()
    # gates reported to the reviewer (marked "advisory") that never block a release
    advisory: tuple[str, ...] = ()

    @field_validator("advisory")
    @classmethod
    def _known_gates(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        from evaluation.gates import GATE_NAMES

        unknown = sorted(set(names) - set(GATE_NAMES))
        if unknown:
            raise ValueError(f"unknown gate(s) {', '.join(unknown)}; known: {', '.join(GATE_NAMES)}")
        return tuple(names)
