"""The compute curve of the seed table: EF MAE of frozen JEPA and VideoMAE encoders against pretraining FLOPs
at ¼×, 1× and 4× of the demo's budget, at *equal training FLOPs* (not equal steps): the budget is JEPA's
`step_flops` × the table's steps, and every method gets the steps that spend it (VideoMAE's step costs about
half JEPA's, so it trains about twice the steps), warm-up scaled with the steps. One pretraining seed per
point, two at 1× (the seed-to-seed spread beside the trend); a supervised-from-scratch model at the largest
budget checks that EF is learnable from video at all (issue 15: ≤ 0.75 × the mean predictor, its CI against
the best pixel-only estimator excluding zero). EF only at these points (the same probe protocol as the
table, 100 % of the labels), each with a bootstrap 95 % CI over TEST videos, and the paired comparisons:

- the trend: each method's largest-budget point against its smallest (same TEST videos);
- at the largest budget: JEPA against VideoMAE and against the random-init encoder;
- where the trends would cross when they do not cross inside the curve (a straight line of EF MAE in
  log10 FLOPs through each method's points; an extrapolation, reported as one).

Pretraining runs share the seed table's run folders (experiments.seed_table.run_folder), so the 1× JEPA point
of seed 0 is the table's JEPA encoder, trained once."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from config.layout import DataLayout
from config.params import Params
from evaluation.baselines import per_video
from evaluation.bootstrap import paired_errors, paired_interval
from evaluation.probe_protocol import fit_protocol, selections
from evaluation.results import NotMeasured, jsonable
from evaluation.tokens import Progress, embed_cached
from experiments.budgets import method_params
from model.config import token_time_steps
from model.data import build_clip_cache

SCALES = (0.25, 1.0, 4.0)
CURVE_METHODS = ("jepa", "videomae")
LEARNABILITY = "supervised"  # trained at the largest budget only
SEEDS_AT_1X = 2
EF_ONLY = {"probe.tasks": ["ef"], "probe.fractions": [1.0]}


@dataclass(frozen=True)
class Point:
    """One pretraining run of the curve."""

    method: str
    scale: float
    seed: int
    steps: int
    warmup: int
    flops_per_step: float

    @property
    def name(self) -> str:
        return f"{self.method}-x{self.scale:g}-seed{self.seed}"


def flops_per_step(params: Params) -> float:
    """Training FLOPs of one step as pretraining counts them (model.train: step_flops at data.batch_size)."""
    from model.train import build_module

    return float(build_module(params.pretrain).step_flops(params.data.batch_size))


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """The curve's budgets, checked before any training: positive, distinct, at least two (a trend)."""
    scales = tuple(float(s) for s in scales)
    if len(scales) < 2 or len(set(scales)) != len(scales) or any(not s > 0 for s in scales):
        raise ValueError(f"compute-curve budgets must be ≥ 2 distinct positive multiples, got {list(scales)}")
    return tuple(sorted(scales))


def plan(base: Params, adult: DataLayout, scales: Sequence[float] = SCALES) -> tuple[float, list[Point]]:
    """The reference budget (JEPA at the table's steps) and every run of the curve."""
    scales = check_scales(scales)
    steps0, warm_share = base.optimization.steps, base.optimization.warmup / max(base.optimization.steps, 1)
    # one module built per method (a ViT-L at the gpu budget takes seconds to build)
    per_method = {m: flops_per_step(method_params(base, m, adult)) for m in (*CURVE_METHODS, LEARNABILITY)}
    reference = steps0 * per_method["jepa"]
    seed0 = base.optimization.seed
    points = []
    runs = [(m, s) for m in CURVE_METHODS for s in scales] + [(LEARNABILITY, max(scales))]
    for method, scale in runs:
        per_step = per_method[method]
        steps = max(1, round(scale * reference / per_step))
        seeds = range(seed0, seed0 + (SEEDS_AT_1X if scale == 1.0 and method in CURVE_METHODS else 1))
        for seed in seeds:
            warmup = min(round(steps * warm_share), steps - 1)  # the schedule needs a step after warm-up
            points.append(Point(method, scale, seed, steps, warmup, per_step))
    return reference, points


def point_params(base: Params, adult: DataLayout, point: Point) -> Params:
    every = base.optimization.checkpoint_every
    return method_params(base, point.method, adult).with_overrides({
        "optimization.steps": point.steps, "optimization.warmup": point.warmup,
        "optimization.seed": point.seed, "optimization.checkpoint_every": max(1, min(every, point.steps)),
    } | EF_ONLY)  # fmt: skip


def measure_ef(encoder, params: Params, adult: DataLayout, on_progress: Progress | None = None) -> dict:
    """EF MAE of a frozen encoder through the table's probe protocol, with the per-video TEST predictions."""
    config, clips = params.pretrain, params.probe.clips_per_video
    table = build_clip_cache(adult.dataset_dir, adult.cache_dir, manifest=adult.manifest)
    tokens = embed_cached(encoder, config, adult.cache_dir, table.FileName, clips, "embed", on_progress)
    ef = fit_protocol(tokens, table, params.probe, token_time_steps(config)).tasks["ef"]
    if isinstance(ef, NotMeasured):
        return {"ef_mae": ef}
    test = per_video(ef, table)
    errors = np.abs(np.subtract(test["predicted"], test["true"]))
    interval = paired_interval(errors, np.zeros_like(errors)) if len(errors) >= 2 else None
    return {
        "ef_mae": ef.metrics["mae"], "ef_mae_ci": interval.to_json() if interval else None,
        "ef_test": test, "ef_selection": selections(ef.ensemble), "n_test": len(errors),
    }  # fmt: skip


def run_curve(
    base: Params, adult: DataLayout, models_dir: Path, budget: str, out_dir: Path, baselines: dict,
    scales: Sequence[float] = SCALES, on_progress: Progress | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict:  # fmt: skip
    """Pretrain (once; reused and resumed as the table's runs are) and measure every point of the curve."""
    from experiments.seed_table import ensure_pretrained, measured_with, pretraining, run_folder

    reference, points = plan(base, adult, scales)
    cache = out_dir / "compute-curve"
    rows = []
    for point in [*points, None]:  # None: the random-init encoder, the floor of "learned anything"
        if point is None:
            params = method_params(base, "random_init", adult).with_overrides(EF_ONLY)
            name, weights, train = "random_init", None, {"steps": 0, "seconds": 0.0, "flops_per_step": 0.0}
        else:
            params, name = point_params(base, adult, point), point.name
            if on_stage:
                on_stage(f"compute curve: {name} ({point.steps} steps)")
            weights, train = ensure_pretrained(
                params, run_folder(models_dir, budget, point.method, params, adult)
            )
        numbers = measured_with(measure_ef, name, weights, params, adult, cache / f"{name}.json", on_progress)
        row = asdict(point) if point else {"method": "random_init", "scale": None, "seed": None}
        rows.append(row | {"pretraining": pretraining(params, weights, train)} | numbers)
    curve = {"reference_flops": reference, "scales": list(scales), "points": rows, "baselines": baselines}
    curve["comparisons"] = comparisons(rows, baselines, max(scales), min(scales))
    curve["trend"] = crossings(rows)
    return jsonable(curve)


def _pick(rows: list[dict], method: str, scale: float | None, seed: int | None = None) -> dict | None:
    for row in rows:
        if row["method"] == method and row["scale"] == scale and (seed is None or row["seed"] == seed):
            return row if isinstance(row.get("ef_test"), dict) else None
    return None


def compare(first: dict | None, second: dict | None, factor: float = 1.0) -> dict | NotMeasured:
    """Paired bootstrap of first's absolute EF errors minus factor × second's, on their shared TEST videos."""
    pair = paired_errors(first["ef_test"], second["ef_test"]) if first and second else None
    if pair is None:
        return NotMeasured("a side is missing or they share fewer than 2 TEST videos")
    interval = paired_interval(pair[0], factor * pair[1])
    return interval.to_json() | {"excludes_zero": interval.excludes_zero, "text": str(interval)}


def _mean_predictor(rows: list[dict], baselines: dict) -> dict | None:
    mean = (baselines or {}).get("mean_predictor") or {}
    ref = next((r for r in rows if isinstance(r.get("ef_test"), dict)), None)
    if "train_mean" not in mean or ref is None:
        return None
    test = ref["ef_test"]
    return {"ef_test": {**test, "predicted": [mean["train_mean"]] * len(test["true"])}}


def comparisons(rows: list[dict], baselines: dict, top: float, bottom: float) -> dict:
    from experiments.report import best_pixel

    jepa, mae, random = (
        _pick(rows, "jepa", top),
        _pick(rows, "videomae", top),
        _pick(rows, "random_init", None),
    )
    supervised, mean = _pick(rows, LEARNABILITY, top), _mean_predictor(rows, baselines)
    pixel = best_pixel(baselines)
    out = {
        "jepa_trend": compare(jepa, _pick(rows, "jepa", bottom)),
        "videomae_trend": compare(mae, _pick(rows, "videomae", bottom)),
        "jepa_vs_videomae_at_top": compare(jepa, mae),
        "jepa_vs_random_init_at_top": compare(jepa, random),
        "videomae_vs_random_init_at_top": compare(mae, random),
        "supervised_vs_0.75_mean_predictor": compare(supervised, mean, 0.75),
        "supervised_vs_best_pixel": compare(supervised, pixel),
    }
    seeds = [
        r for r in rows if r["method"] == "jepa" and r["scale"] == 1.0 and isinstance(r.get("ef_test"), dict)
    ]
    if len(seeds) == 2:
        out["jepa_seed_spread_at_1x"] = compare(seeds[1], seeds[0])
    return out


def _mae(row: dict) -> float:
    value = row.get("ef_mae")
    return float(value["value"] if isinstance(value, dict) else value)


def crossings(rows: list[dict]) -> dict:
    """A least-squares line EF MAE = a + b·log10(FLOPs) per method (every seed a point) and where JEPA's
    line would meet VideoMAE's and the random-init encoder's level: an extrapolation, not a measurement."""
    lines = {}
    for method in CURVE_METHODS:
        pts = [(np.log10(r["pretraining"]["total_flops"]), _mae(r)) for r in rows
               if r["method"] == method and isinstance(r.get("ef_test"), dict)]  # fmt: skip
        if len({x for x, _ in pts}) >= 2:
            slope, intercept = np.polyfit(*zip(*pts, strict=True), 1)
            lines[method] = {"slope_per_decade": float(slope), "intercept": float(intercept)}
    out: dict = {"lines": lines}
    random = _pick(rows, "random_init", None)
    if "jepa" in lines:
        j = lines["jepa"]
        if "videomae" in lines and j["slope_per_decade"] != lines["videomae"]["slope_per_decade"]:
            v = lines["videomae"]
            x = (v["intercept"] - j["intercept"]) / (j["slope_per_decade"] - v["slope_per_decade"])
            out["jepa_meets_videomae_at_flops"] = float(10**x) if abs(x) < 30 else None
        if random and j["slope_per_decade"] < 0:
            x = (_mae(random) - j["intercept"]) / j["slope_per_decade"]
            out["jepa_meets_random_init_at_flops"] = float(10**x) if abs(x) < 30 else None
    return out


def write_curve(curve: dict, out_dir: Path) -> None:
    """compute_curve.json, compute_curve.md and compute_curve.png in out_dir."""
    from experiments.curve_report import curve_markdown, plot_curve

    (out_dir / "compute_curve.json").write_text(json.dumps(curve, indent=2) + "\n")
    (out_dir / "compute_curve.md").write_text(curve_markdown(curve))
    plot_curve(curve, out_dir / "compute_curve.png")
