"""Image-quality degradation over a window: aggregate the shared cause classifier and name the cause.

Per clip, `ultrasound.causes.classify_causes` says whether it looks degraded and names the likely kind.
Clean traffic is flagged too: about 2 % of rendered clips (the rate the classifier was calibrated to), but
far more once a video has been through an MJPEG file, as every stored or uploaded one has (measured in
benchmarks/bench_monitoring.py). So the window is compared with the reference, whose clips went through
the same path: it is degraded when its flagged share exceeds the clean rate (the reference's, at least
`floor`) by `min_excess` and the excess is significant, both against the floor (binomial) and against the
reference sample (one-sided Fisher exact test, which accounts for the reference being small). The cause
named is the kind whose share grew most over the reference; another kind is named too when its growth is
at least `cause_share` of the largest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from ultrasound.causes import ADVICE, CauseVerdict, classify_causes
from ultrasound.perturbations import PERTURBATION_KINDS
from ultrasound.quality import METRICS


@dataclass(frozen=True)
class DegradationVerdict:
    """The window's verdict: flagged clips, their causes against the reference, and the decision."""

    degraded: bool
    causes: tuple[str, ...]  # most likely first; () when the window is not degraded
    n: int
    flagged: int
    share: float  # flagged / n
    clean_rate: float  # the reference's flagged share, at least the floor
    p_value: float  # the larger of the two tests' p-values
    cause_counts: dict[str, int]  # flagged clips of the window per top-named kind (zeros included)
    cause_excess: dict[str, float]  # per kind: window share - reference share

    @property
    def advice(self) -> list[str]:
        return [f"{kind}: {ADVICE[kind]}" for kind in self.causes]

    def as_dict(self) -> dict:
        return asdict(self) | {"causes": list(self.causes), "advice": self.advice}


UNMEASURED = CauseVerdict(False, (), {})  # a row lacking a metric (e.g. a reference video without facts)


def clip_verdicts(frame: pd.DataFrame) -> list[CauseVerdict]:
    """The cause classifier's verdict for every row (its quality-metric columns) of a frame; a row with a
    missing metric is not classified (UNMEASURED: not flagged)."""
    quality = frame[list(METRICS)].astype(float)
    complete = quality.notna().all(axis=1).to_numpy()
    rows = quality.to_dict("records")
    return [classify_causes(row) if ok else UNMEASURED for row, ok in zip(rows, complete, strict=True)]


def top_causes(verdicts: Sequence[CauseVerdict]) -> list[str]:
    """Per clip: the kind the classifier names first, or "" when it does not flag the clip."""
    return [v.causes[0] if v.degraded else "" for v in verdicts]


def _shares(named: Sequence[str]) -> dict[str, float]:
    counts = Counter(named)
    return {k: counts.get(k, 0) / len(named) if named else 0.0 for k in PERTURBATION_KINDS}


def detect_degradation(
    named: Sequence[str],
    reference: Sequence[str],
    *,
    floor: float,
    min_excess: float,
    alpha: float,
    cause_share: float,
) -> DegradationVerdict:
    """Decide on a window from each clip's top-named cause ("" = not flagged; see `top_causes`).

    Args:
        named: one entry per clip of the window.
        reference: the same for the reference clips (the clean rate and the per-cause baseline).
        floor: the smallest clean flag rate assumed (the classifier's calibration target).
        min_excess: flagged share above the clean rate that counts as degradation.
        alpha: significance of both tests.
        cause_share: a second kind is named when its growth is at least this share of the largest.
    """
    from scipy.stats import binom, fisher_exact

    n, m = len(named), len(reference)
    flagged, ref_flagged = sum(1 for k in named if k), sum(1 for k in reference if k)
    share = flagged / n if n else 0.0
    clean_rate = max(floor, ref_flagged / m if m else 0.0)
    p_value = float(binom.sf(flagged - 1, n, floor)) if n else 1.0
    if m and n:
        table = [[flagged, n - flagged], [ref_flagged, m - ref_flagged]]
        p_value = max(p_value, float(fisher_exact(table, alternative="greater").pvalue))
    degraded = n > 0 and share - clean_rate >= min_excess and p_value < alpha
    now, before = _shares(named), _shares(reference)
    excess = {k: now[k] - before[k] for k in PERTURBATION_KINDS}
    ranked = sorted((k for k in PERTURBATION_KINDS if excess[k] > 0), key=lambda k: -excess[k])
    causes = tuple(k for k in ranked if excess[k] >= cause_share * excess[ranked[0]]) if ranked else ()
    return DegradationVerdict(
        degraded=degraded,
        causes=causes if degraded else (),
        n=n,
        flagged=flagged,
        share=share,
        clean_rate=clean_rate,
        p_value=p_value,
        cause_counts={k: sum(1 for x in named if x == k) for k in PERTURBATION_KINDS},
        cause_excess=excess,
    )


def degradation_verdict(
    current: Sequence[CauseVerdict], reference: Sequence[CauseVerdict], config
) -> DegradationVerdict:
    """`detect_degradation` with monitoring.* thresholds (config: MonitoringConfig)."""
    return detect_degradation(
        top_causes(current),
        top_causes(reference),
        floor=config.clean_false_alarm_rate,
        min_excess=config.degradation_share,
        alpha=config.degradation_alpha,
        cause_share=config.cause_share,
    )
