"""The model card's plots: matplotlib figures of a report (EF scatter, Bland–Altman, view confusion,
robustness, label efficiency), embedded in the card's HTML as base64 PNGs."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
from matplotlib.figure import Figure

from evaluation.results import value_of


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(title: str, fig: Figure | None, reason: str = "") -> str:
    if fig is None:
        caption = f"<figcaption>{html.escape(title)}</figcaption>"
        return f'<figure>{caption}<p class="na">n/a {html.escape(reason)}</p></figure>'
    return (
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
    )


def ef_scatter(pred: dict) -> Figure:
    actual, predicted = np.asarray(pred["actual"]), np.asarray(pred["predicted"])
    fig = Figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.scatter(actual, predicted, s=14, alpha=0.7)
    lo, hi = min(actual.min(), predicted.min()) - 2, max(actual.max(), predicted.max()) + 2
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="true EF (%)", ylabel="predicted EF (%)", title="EF, TEST", xlim=(lo, hi), ylim=(lo, hi))
    return fig


def bland_altman(pred: dict) -> Figure:
    actual, predicted = np.asarray(pred["actual"]), np.asarray(pred["predicted"])
    mean, diff = (actual + predicted) / 2, predicted - actual
    bias, spread = diff.mean(), 1.96 * diff.std()
    fig = Figure(figsize=(4.5, 4))
    ax = fig.subplots()
    ax.scatter(mean, diff, s=14, alpha=0.7)
    for y, style in ((bias, "-"), (bias + spread, "--"), (bias - spread, "--")):
        ax.axhline(y, color="k", ls=style, lw=1)
    ax.set(
        xlabel="mean of true and predicted EF (%)",
        ylabel="predicted − true (%)",
        title=f"Bland–Altman: bias {bias:.2f}, LoA ±{spread:.2f}",
    )
    return fig


def confusion(pred: dict) -> Figure:
    labels = pred.get("labels") or sorted(set(pred["actual"]) | set(pred["predicted"]))
    index = {v: i for i, v in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for a, p in zip(pred["actual"], pred["predicted"], strict=True):
        matrix[index[a], index[p]] += 1
    fig = Figure(figsize=(4.5, 4))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", color="black")
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted view", ylabel="true view", title="View confusion (TEST)")
    return fig


def robustness_bars(robustness: dict) -> Figure:
    """EF MAE per kind (groups) × severity (bars), each labelled with its relative increase over clean."""
    rows = {(r["kind"], r["severity"]): r for r in robustness["settings"]}
    kinds = list(dict.fromkeys(k for k, _ in rows))
    severities = list(dict.fromkeys(s for _, s in rows))
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    width = 0.8 / max(1, len(severities))
    for j, severity in enumerate(severities):
        cells = [rows.get((k, severity), {"ef_mae": 0.0, "relative_increase": 0.0}) for k in kinds]
        heights = [float(value_of(c["ef_mae"])) for c in cells]
        bars = ax.bar(np.arange(len(kinds)) + j * width, heights, width, label=severity)
        ax.bar_label(bars, [f"{100 * c['relative_increase']:+.1f}%" for c in cells], fontsize=7)
    ax.axhline(float(value_of(robustness["clean_ef_mae"])), color="k", ls="--", lw=1, label="clean")
    ax.set_xticks(np.arange(len(kinds)) + width * (len(severities) - 1) / 2, kinds)
    ax.set(ylabel="EF MAE (%)", title="EF MAE under perturbation")
    ax.legend(fontsize=8)
    return fig


def label_efficiency(metrics: dict, baseline: dict) -> Figure | None:
    curves = [
        (key, name, block[key])
        for name, block in (
            ("candidate", metrics.get("label_efficiency", {})),
            ("random-init", baseline.get("label_efficiency", {})),
        )
        for key in ("view_accuracy", "ef_mae")
        if len(block.get(key, {})) > 1
    ]
    if not curves:
        return None
    keys = list(dict.fromkeys(k for k, _, _ in curves))
    fig = Figure(figsize=(4.5 * len(keys), 4))
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    for ax, key in zip(axes, keys, strict=True):
        for _, name, points in (c for c in curves if c[0] == key):
            fractions = sorted(points, key=float)
            ax.errorbar(
                [100 * float(f) for f in fractions],
                [points[f]["mean"] for f in fractions],
                yerr=[points[f]["std"] for f in fractions],
                marker="o",
                capsize=3,
                label=name,
            )
        ax.set_xscale("log")
        ax.set(
            xlabel="labelled share of TRAIN+VAL (%)",
            ylabel=key.replace("_", " "),
            title=f"label efficiency: {key}",
        )
        ax.legend(fontsize=8)
    return fig


def plots_section(report: dict) -> str:
    """The card's plots as one HTML block; a plot without its result says why not."""
    pred = report.get("predictions", {})
    ef, view, rob = pred.get("ef"), pred.get("view"), report.get("robustness")
    figures = [
        _figure("EF predicted vs true", ef_scatter(ef) if ef else None, "(no EF result)"),
        _figure("Bland–Altman", bland_altman(ef) if ef else None, "(no EF result)"),
        _figure("View confusion matrix", confusion(view) if view else None, "(fewer than two views)"),
        _figure(
            "Robustness: EF MAE per kind × severity",
            robustness_bars(rob) if isinstance(rob, dict) and rob.get("settings") else None,
            "(no robustness result)",
        ),
        _figure(
            "Label efficiency",
            label_efficiency(report.get("metrics", {}), report.get("baselines", {}).get("random_init", {})),
            "(one label fraction only)",
        ),
    ]
    return '<div class="plots">' + "".join(figures) + "</div>"
