"""The candidate against each baseline of the same run, as paired bootstrap intervals over TEST videos.

A gate compares means ("EF MAE 5 % below the random-init encoder's"); a reviewer also needs to know
whether the difference is more than the luck of which ~50 videos are in TEST. Each comparison is the mean,
over the TEST videos both models scored, of the candidate's absolute EF error minus the baseline's, with its
95 % paired bootstrap interval (evaluation.bootstrap: the videos resampled, the same draw for both).
Negative is better for the candidate; "excludes zero" says the sign holds beyond resampling. The
candidate's errors are its served ensemble's (the probes that will be packaged), the random-init encoder's
those of its ensemble under the same protocol, the mean predictor's |EF − the mean of the probes' training
rows|, the best pixel-only estimator's (evaluation.pixel_baselines; the lowest TEST MAE of them) its own.

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


def ef_comparisons(
    candidate: dict | None, random_init: dict, mean_predictor: dict, pixel: dict | None = None, seed: int = 0
) -> dict:
    """{name: interval or NotMeasured} for the candidate's per-video EF predictions ({FileName, true,
    predicted}) against the random-init encoder's (its `ef_predictions`), the mean predictor and, when
    `pixel` (evaluation.baselines.pixel) is given, the best pixel-only estimator's."""
    names = ["ef_mae_vs_random_init", "ef_mae_vs_mean_predictor"]
    names += ["ef_mae_vs_best_pixel_baseline"] if pixel is not None else []
    if candidate is None:
        return dict.fromkeys(names, NotMeasured("the candidate has no EF predictions on TEST"))
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
    if pixel is not None:
        out["ef_mae_vs_best_pixel_baseline"] = _vs_pixel(candidate, pixel, seed)
    return out


def _vs_pixel(candidate: dict, pixel: dict, seed: int) -> dict | NotMeasured:
    """The candidate against the pixel-only estimator with the lowest TEST MAE (the hardest to beat)."""
    if not isinstance(pixel, dict) or "best" not in pixel:
        return NotMeasured(f"no pixel baselines ({getattr(pixel, 'reason', 'not measured')})")
    best = pixel["best"]
    pairs = paired_errors(candidate, pixel["estimators"][best]["ef_predictions"])
    if pairs is None:
        return NotMeasured("fewer than 2 TEST videos scored by both the candidate and the pixel baselines")
    interval = _interval(*pairs, seed)
    text = interval["text"].replace("baseline", f"{best} pixel baseline")
    return interval | {"baseline": best, "text": text}


def baseline_lines(report: dict) -> list[str]:
    """The evaluate command's summary of a report (its JSON form): the probe protocol, then the candidate's
    EF MAE beside each baseline's with the paired interval (what the model card's baselines table shows)."""
    protocol = report.get("probe_protocol") or {}
    lines = [protocol["text"]] if "text" in protocol else []
    metrics, baselines = report.get("metrics", {}), report.get("baselines", {})
    lines.append(f"EF MAE (TEST): candidate {_shown(metrics.get('ef_mae'))}")
    pixel = baselines.get("pixel") or {}
    rows = [
        ("random-init encoder", (baselines.get("random_init") or {}).get("ef_mae"), "ef_mae_vs_random_init"),
        ("mean predictor", (baselines.get("mean_predictor") or {}).get("ef_mae"), "ef_mae_vs_mean_predictor"),
    ]
    if "best" in pixel:
        best = pixel["best"]
        rows.append((f"best pixel baseline ({best})", pixel["estimators"][best]["ef_mae"],
                     "ef_mae_vs_best_pixel_baseline"))  # fmt: skip
    comparisons = report.get("comparisons") or {}
    for label, value, key in rows:
        c = comparisons.get(key) or {}
        interval = (
            f"; candidate − it {c['difference']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] (95 % paired "
            "bootstrap)"
            if "difference" in c
            else ""
        )
        lines.append(f"  vs {label}: {_shown(value)}{interval}")
    return lines


def _shown(value) -> str:
    if isinstance(value, dict) and "value" in value and value["value"] is not None:
        return f"{value['value']:.2f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return "n/a" + (f" — {value['reason']}" if isinstance(value, dict) and value.get("reason") else "")
