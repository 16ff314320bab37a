"""The compute curve's report (experiments.compute_curve): a markdown table of every point with its 95 % CI,
the paired comparisons in words (a claim holds only when its CI excludes zero in the claimed direction), the
extrapolated crossings marked as extrapolations, and a plot of EF MAE against pretraining FLOPs (log x) with
the baselines as horizontal lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.report import LABELS, best_pixel, section

CLAIMS = {
    "jepa_trend": "JEPA improves with compute (largest budget − smallest < 0)",
    "videomae_trend": "VideoMAE improves with compute (largest budget − smallest < 0)",
    "jepa_vs_videomae_at_top": "JEPA below VideoMAE at the largest budget, equal FLOPs",
    "jepa_vs_random_init_at_top": "JEPA below the random-init encoder at the largest budget",
    "videomae_vs_random_init_at_top": "VideoMAE below the random-init encoder at the largest budget",
    "supervised_vs_0.75_mean_predictor": "supervised from scratch ≤ 0.75 × the mean predictor (EF learnable)",
    "supervised_vs_best_pixel": "supervised from scratch below the best pixel-only estimator",
    "jepa_seed_spread_at_1x": "two JEPA pretraining seeds at 1× (second − first; a spread, not a claim)",
}


def _value(node) -> float | None:
    if isinstance(node, dict):
        node = node.get("value")
    return None if node is None else float(node)


def _ci(row: dict) -> str:
    ci = row.get("ef_mae_ci")
    return f" [{ci['low']:.2f}, {ci['high']:.2f}]" if isinstance(ci, dict) else ""


def verdict(key: str, comparison) -> str:
    """The verdict: yes when the claim's paired CI lies wholly below zero, no otherwise, n/a with the reason
    when unmeasured (a NotMeasured or its JSON form)."""
    if section(comparison) is None:
        reason = getattr(comparison, "reason", None) or (comparison or {}).get("reason", "not measured")
        return f"n/a — {reason}"
    if key == "jepa_seed_spread_at_1x":
        return "spread"
    return "yes" if comparison["high"] < 0 else "no"


def curve_markdown(curve: dict, level: int = 1) -> str:
    head = "#" * level
    budgets = ", ".join(f"{s:g}×" for s in curve["scales"])
    lines = [
        f"{head} The compute curve: EF MAE against pretraining FLOPs",
        "",
        "Equal training FLOPs per budget (step_flops × steps): "
        f"1× = {curve['reference_flops'] / 1e15:.4g} PFLOPs (JEPA at the table's steps); budgets {budgets}. "
        "EF only, the table's probe protocol at 100 % of the labels; 95 % bootstrap CIs over TEST videos.",
        "",
        "| model | budget | pretraining seed | steps × batch | PFLOPs | EF MAE [95 % CI] | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in curve["points"]:
        t = row["pretraining"]
        budget = f"{row['scale']:g}×" if row["scale"] is not None else "none"
        mae = _value(row.get("ef_mae"))
        shown = f"{mae:.2f}{_ci(row)}" if mae is not None else f"n/a — {row['ef_mae'].get('reason')}"
        seed = row["seed"] if row["seed"] is not None else "—"
        cost = f"{t['steps']} × {t['batch']} | {t['total_flops'] / 1e15:.4g}"
        label = LABELS.get(row["method"], row["method"])
        lines.append(f"| {label} | {budget} | {seed} | {cost} | {shown} | {t['seconds'] or 0:.0f} |")
    lines += ["", "| comparison | paired difference of absolute errors, 95 % CI | holds |", "|---|---|---|"]
    for key, comparison in curve["comparisons"].items():
        text = comparison.get("text", "—") if isinstance(comparison, dict) else "—"
        lines.append(f"| {CLAIMS.get(key, key)} | {text} | {verdict(key, comparison)} |")
    trend = curve.get("trend", {})
    lines += ["", "Trend lines (least squares, EF MAE per decade of FLOPs; past the measured budgets an "
              "extrapolation, not a measurement):"]  # fmt: skip
    for method, line in trend.get("lines", {}).items():
        lines.append(
            f"- {LABELS.get(method, method)}: {line['slope_per_decade']:+.2f} EF points per 10× FLOPs"
        )
    meets = {"jepa_meets_videomae_at_flops": "JEPA's line meets VideoMAE's",
             "jepa_meets_random_init_at_flops": "JEPA's line reaches the random-init level"}  # fmt: skip
    for key, label in meets.items():
        if trend.get(key):
            times = trend[key] / curve["reference_flops"]
            inside = min(curve["scales"]) <= times <= max(curve["scales"])
            where = "inside the measured budgets" if inside else "an extrapolation"
            lines.append(
                f"- {label} at ≈ {trend[key] / 1e15:.3g} PFLOPs ({times:.3g} × the 1× budget; {where})"
            )
    lines.append(f"- {_lower_at_top(curve)}")
    return "\n".join(lines) + "\n"


def _lower_at_top(curve: dict) -> str:
    """Which trend line is lower at the largest measured budget: a description of the fitted points (the
    slopes carry no CI here), never a test; the paired comparisons above are the tests."""
    lines = curve.get("trend", {}).get("lines", {})
    if not {"jepa", "videomae"} <= set(lines):
        return "no trend comparison: a method has fewer than two budgets"
    top = np.log10(max(curve["scales"]) * curve["reference_flops"])
    at = {m: lines[m]["intercept"] + lines[m]["slope_per_decade"] * top for m in ("jepa", "videomae")}
    lower = min(at, key=at.get)
    values = f"{at['jepa']:.2f} JEPA, {at['videomae']:.2f} VideoMAE"
    return (f"at the largest budget the lower trend line is {LABELS[lower]}'s ({values}): a description "
            "of the points, not a test (no CI on slopes)")  # fmt: skip


def plot_curve(curve: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method, colour in (("jepa", "tab:blue"), ("videomae", "tab:orange"), ("supervised", "tab:green")):
        rows = [r for r in curve["points"] if r["method"] == method and _value(r.get("ef_mae")) is not None]
        if not rows:
            continue
        x = [r["pretraining"]["total_flops"] for r in rows]
        y = [_value(r["ef_mae"]) for r in rows]
        ci = [r.get("ef_mae_ci") or {} for r in rows]
        err = [[v - c.get("low", v) for v, c in zip(y, ci, strict=True)],
               [c.get("high", v) - v for v, c in zip(y, ci, strict=True)]]  # fmt: skip
        ax.errorbar(x, y, yerr=err, fmt="o-" if method != "supervised" else "s", color=colour, capsize=3,
                    label=LABELS[method])  # fmt: skip
    random = next((r for r in curve["points"] if r["method"] == "random_init"), None)
    if random and _value(random.get("ef_mae")) is not None:
        ax.axhline(_value(random["ef_mae"]), color="grey", ls="--", label=LABELS["random_init"])
    lines = curve.get("baselines") or {}
    if _value((lines.get("mean_predictor") or {}).get("ef_mae")) is not None:
        ax.axhline(_value(lines["mean_predictor"]["ef_mae"]), color="black", ls=":", label="mean predictor")
    pixel = best_pixel(lines)
    if pixel:
        ax.axhline(
            float(pixel["ef_mae"]), color="tab:red", ls="-.", label=f"best pixel-only ({pixel['name']})"
        )
    ax.set_xscale("log")
    ax.set_xlabel("pretraining FLOPs")
    ax.set_ylabel("TEST EF MAE (EF points), 95 % CI")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
