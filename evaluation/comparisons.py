"""The candidate against each baseline of the same run, as paired bootstrap intervals over TEST videos.

A gate compares means ("EF MAE 5 % below the random-init encoder's"); a reviewer also needs to know
whether the difference is more than the luck of which ~50 videos are in TEST. Each comparison is the mean,
over the TEST videos both models scored, of the candidate's absolute EF error minus the baseline's, with its
95 % paired bootstrap interval (evaluation.bootstrap: the videos resampled, the same draw for both).
Negative is better for the candidate; "excludes zero" says the sign holds beyond resampling. The
candidate's errors are its served ensemble's (the probes that will be packaged), the random-init encoder's
those of its ensemble under the same protocol, the mean predictor's |EF − the TRAIN+VAL mean|.

Reported in evaluation.json (`comparisons`) and the model card; not a gate (the gates keep their stated
thresholds; the interval says how much to trust them).
"""

from __future__ import annotations

import numpy as np

from evaluation.bootstrap import paired_errors, paired_interval
from evaluation.results import NotMeasured


def _interval(candidate: np.ndarray, baseline: np.ndarray, seed: int) -> dict:
    interval = paired_interval(candidate, baseline, seed=seed)
    return interval.to_json() | {
        "excludes_zero": interval.excludes_zero,
        "candidate_mae": float(candidate.mean()),
        "baseline_mae": float(baseline.mean()),
        "text": f"candidate − baseline EF MAE {interval}",
    }


def ef_comparisons(candidate: dict | None, random_init: dict, mean_predictor: dict, seed: int = 0) -> dict:
    """{name: interval or NotMeasured} for the candidate's per-video EF predictions ({FileName, true,
    predicted}) against the random-init encoder's (its `ef_predictions`) and the mean predictor."""
    if candidate is None:
        reason = NotMeasured("the candidate has no EF predictions on TEST")
        return {"ef_mae_vs_random_init": reason, "ef_mae_vs_mean_predictor": reason}
    out: dict = {}
    baseline = random_init.get("ef_predictions") if isinstance(random_init, dict) else None
    pairs = paired_errors(candidate, baseline) if baseline else None
    out["ef_mae_vs_random_init"] = (
        _interval(*pairs, seed)
        if pairs is not None
        else NotMeasured("fewer than 2 TEST videos scored by both the candidate and the random-init encoder")
    )
    mean = mean_predictor.get("train_mean") if isinstance(mean_predictor, dict) else None
    if isinstance(mean, float) and len(candidate["FileName"]) >= 2:
        constant = dict(candidate, predicted=[mean] * len(candidate["FileName"]))
        pairs = paired_errors(candidate, constant)
        out["ef_mae_vs_mean_predictor"] = _interval(*pairs, seed)  # type: ignore[misc]
    else:
        out["ef_mae_vs_mean_predictor"] = NotMeasured(
            "no mean predictor or fewer than 2 labelled TEST videos"
        )
    return out
