"""The seed table's four panels: EF MAE per method, view accuracy against the share of labels, EF MAE's
relative increase per robustness setting, and pediatric zero-shot vs probe-trained EF MAE (error bars: std
over probe seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments.report import LABELS, section

SHORT = {
    "jepa": "JEPA",
    "videomae": "VideoMAE",
    "supervised": "Supervised\nfrom scratch",
    "random_init": "Random-init\nfrozen",
}
COLOURS = {"jepa": "#1f77b4", "videomae": "#d62728", "supervised": "#2ca02c", "random_init": "#7f7f7f"}


def _stat(value) -> tuple[float, float]:
    if isinstance(value, dict) and "mean" in value:
        return float(value["mean"]), float(value["std"])
    return float("nan"), 0.0


def _legend(ax) -> None:
    """A legend when the panel drew something (a column nobody measured leaves the panel empty)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot(results: dict, path: Path) -> Path:
    methods = results["methods"]
    names = list(methods)
    fig = Figure(figsize=(13, 9), layout="constrained")
    (ef_ax, view_ax), (rob_ax, ped_ax) = fig.subplots(2, 2)
    colours = [COLOURS.get(n, "#9467bd") for n in names]

    stats = [_stat(methods[n].get("ef_mae")) for n in names]
    ef_ax.bar(range(len(names)), [s[0] for s in stats], yerr=[s[1] for s in stats], color=colours, capsize=4)
    ef_ax.set_xticks(range(len(names)), [SHORT.get(n, n) for n in names], fontsize=8)
    ef_ax.set_ylabel("EF MAE (EF points, TEST)")
    ef_ax.set_title("EF regression, frozen encoder + attentive probe")

    for n, c in zip(names, colours, strict=True):
        views = section(methods[n].get("view_accuracy"))
        if views is None:
            continue
        fractions = sorted(views, key=float)
        means = [100 * views[f]["mean"] for f in fractions]
        stds = [100 * views[f]["std"] for f in fractions]
        view_ax.errorbar(
            [100 * float(f) for f in fractions],
            means,
            yerr=stds,
            marker="o",
            color=c,
            label=LABELS.get(n, n),
            capsize=3,
        )
    view_ax.set_xscale("log")
    view_ax.set_xlabel("labelled TRAIN+VAL studies used (%)")
    view_ax.set_ylabel("view accuracy (%)")
    view_ax.set_title("Label efficiency (view classification)")
    _legend(view_ax)

    settings = []
    for n in names:
        rob = section(methods[n].get("robustness"))
        if rob is not None:
            settings = [f"{s['kind']}\n{s['severity']}" for s in rob["settings"]]
            break
    width = 0.8 / max(1, len(names))
    for i, (n, c) in enumerate(zip(names, colours, strict=True)):
        rob = section(methods[n].get("robustness"))
        if rob is not None:
            x = np.arange(len(rob["settings"])) + i * width
            rob_ax.bar(
                x,
                [100 * s["relative_increase"] for s in rob["settings"]],
                width,
                color=c,
                label=LABELS.get(n, n),
            )
    rob_ax.set_xticks(np.arange(len(settings)) + width * (len(names) - 1) / 2, settings, fontsize=7)
    rob_ax.axhline(0, color="black", linewidth=0.8)
    rob_ax.set_ylabel("EF MAE increase over clean (%)")
    rob_ax.set_title("Robustness to acoustic artefacts")
    _legend(rob_ax)

    for i, key in enumerate(("zero_shot_ef_mae", "probe_trained_ef_mae")):
        vals = [_stat((section(methods[n].get("pediatric")) or {}).get(key)) for n in names]
        ped_ax.bar(
            np.arange(len(names)) + i * 0.4,
            [v[0] for v in vals],
            0.4,
            yerr=[v[1] for v in vals],
            color=colours,
            alpha=1.0 if i else 0.5,
            capsize=3,
            label="probe trained on pediatric (K-fold)" if i else "adult probe, zero-shot",
        )
    ped_ax.set_xticks(np.arange(len(names)) + 0.2, [SHORT.get(n, n) for n in names], fontsize=8)
    ped_ax.set_ylabel("pediatric EF MAE")
    ped_ax.set_title("Pediatric shift")
    ped_ax.legend(fontsize=8)
    fig.suptitle(f"Seed table, budget {results['budget']}: {results['data']}")
    fig.savefig(path, dpi=110)
    return path
