"""The model card: one self-contained HTML page (plots embedded as base64 PNGs) that a reviewer reads before
approving a release, written beside `evaluation.json`."""

from __future__ import annotations

import html
import json
from pathlib import Path

from evaluation.card_plots import (
    bland_altman,
    confusion,
    ef_scatter,
    label_efficiency,
    plots_section,
    robustness_bars,
)
from evaluation.gates import GateCounts, GateResult, failed_gates, rows
from evaluation.report_schema import check_report
from evaluation.results import NotMeasured, jsonable, not_measured, value_of

__all__ = [
    "STYLE",
    "bland_altman",
    "confusion",
    "ef_scatter",
    "label_efficiency",
    "render",
    "robustness_bars",
    "write_model_card",
    "write_report",
]

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}tr.pass td{background:#e7f6e7}tr.fail td{background:#fbe3e3}
tr.advisory td{background:#fff4d6}tr.unmeasured td{font-style:italic}
.verdict{font-size:1.3em;font-weight:bold;padding:0.4em 0.8em;display:inline-block;border-radius:4px}
.verdict.pass{background:#2e7d32;color:white}.verdict.fail{background:#c62828;color:white}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots figure{margin:0}figcaption{font-size:0.9em;color:#555}
.na{color:#777;font-style:italic}.warning{color:#8a5a00;font-weight:bold}
"""


def _fmt(value) -> str:
    """A metric cell: the number, or "n/a — reason" in grey."""
    number = value_of(value)
    if isinstance(number, NotMeasured):
        return f'<span class="na">{html.escape(str(number))}</span>'
    return f"{number:.4g}"


def _mean_std(value) -> str:
    """A summary cell: the served (ensemble) value, then the single probes' mean ± std."""
    if isinstance(value, dict) and "std" in value and value.get("value") is not None:
        return f"{value['value']:.4g} (probes {value['mean']:.4g} ± {value['std']:.2g})"
    return _fmt(value)


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f'<tr class="{classes[i] if classes else ""}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _gates_table(gates: list[GateResult]) -> str:
    rows = [
        [
            html.escape(g.name), _fmt(g.value), f"{html.escape(str(g.direction))} {g.threshold:.4g}",
            html.escape(g.label), html.escape(g.note),
        ]
        for g in gates
    ]  # fmt: skip
    classes = [
        "pass" if g.passed else ("advisory" if g.advisory else "fail") + ("" if g.measured else " unmeasured")
        for g in gates
    ]
    return _table(["gate", "value", "threshold", "result", "note"], rows, classes)


def _metrics_table(metrics: dict) -> str:
    keys = [
        "ef_mae",
        "ef_rmse",
        "ef_r2",
        "view_accuracy",
        "view_macro_f1",
        "robustness_mean_increase",
        "robustness_worst_increase",
        "pediatric_ef_mae",
        "n_test",
        "n_test_labelled",
    ]
    return _table(
        ["metric (TEST)", "value (mean ± std over probe seeds)"],
        [
            [k, _mean_std(metrics.get(k))] if k.startswith("n_") is False else [k, str(metrics.get(k))]
            for k in keys
        ],
    )


def _subgroups_table(subgroups: dict) -> str:
    reduced = subgroups.get("reduced_ef", {})
    rows = [[
        f"EF &lt; {reduced.get('threshold', '?')}", str(reduced.get("n", "")),
        _mean_std(reduced.get("ef_mae")), _fmt(reduced.get("mean_predictor_ef_mae")),
        _mean_std(reduced.get("auroc")),
    ]]  # fmt: skip
    for column in ("device", "cohort"):
        groups = subgroups.get(column)
        if isinstance(groups, dict) and not not_measured(groups):
            rows += [
                [f"{column} = {html.escape(k)}", str(v["n"]), _mean_std(v["ef_mae"]), "", ""]
                for k, v in groups.items()
            ]
        elif groups is not None:
            rows.append([column, "", _fmt(groups), "", ""])
    header = ["subgroup (TEST)", "n", "EF MAE", "mean predictor EF MAE", "AUROC of EF below threshold"]
    return _table(header, rows)


def _baselines_table(report: dict) -> str:
    metrics, baselines = report.get("metrics", {}), report.get("baselines", {})
    random_init, mean_pred = baselines.get("random_init", {}), baselines.get("mean_predictor", {})
    rows = [
        [
            "candidate",
            _mean_std(metrics.get("ef_mae")),
            _mean_std(metrics.get("view_accuracy")),
        ],
        [
            "random-init frozen encoder",
            _mean_std(random_init.get("ef_mae")),
            _mean_std(random_init.get("view_accuracy")),
        ],
        [
            f"mean predictor ({html.escape(str(mean_pred.get('fit_on', 'TRAIN+VAL')))} mean "
            f"{_fmt(mean_pred.get('train_mean'))})",
            _mean_std(mean_pred.get("ef_mae")),
            '<span class="na">n/a</span>',
        ],
    ]
    rows += _pixel_rows(baselines.get("pixel"))
    table = _table(["model", "EF MAE", "view accuracy"], rows)
    return _probe_line(report) + table + _comparisons(report.get("comparisons"))


PIXEL_LABELS = {
    "tubelet": "pixel: ridge on tubelet grey-level statistics",
    "std_map": "pixel: ridge on the per-pixel temporal-std map",
    "dark_area": "pixel: dark-area change over the video",
}


def _pixel_rows(pixel) -> list[list[str]]:
    """One row per pixel-only estimator (evaluation.baselines.pixel); the best one marked."""
    if pixel is None:
        return []
    if not_measured(pixel):
        return [["pixel-only estimators", _fmt(pixel), '<span class="na">n/a</span>']]
    out = []
    for name, e in pixel["estimators"].items():
        label = PIXEL_LABELS.get(name, f"pixel: {name}") + (" (best)" if name == pixel["best"] else "")
        label += f", fitted on {pixel['fit_on']}"
        out.append([html.escape(label), _fmt(e["ef_mae"]), '<span class="na">n/a</span>'])
    return out


def _probe_line(report: dict) -> str:
    """The probe every table was measured with, and the head each served probe is (selected on VAL)."""
    protocol = report.get("probe_protocol")
    if not isinstance(protocol, dict):
        return ""
    chosen = [
        f"{task} seed {s['seed']}: lr {s['lr']:g}, wd {s['weight_decay']:g} ({s['metric']} {s['value']:.3g})"
        for task, result in (report.get("tasks") or {}).items()
        if isinstance(result, dict)
        for s in result.get("selection") or []
        if "metric" in s
    ]
    selected = f" Served heads: {'; '.join(chosen)}." if chosen else ""
    return f"<p>{html.escape(protocol['text'] + '.' + selected)}</p>"


def _comparisons(comparisons: dict | None) -> str:
    """The paired bootstrap intervals of the candidate against each baseline (evaluation.comparisons)."""
    if not isinstance(comparisons, dict):
        return ""
    names = {
        "ef_mae_vs_random_init": "random-init encoder",
        "ef_mae_vs_mean_predictor": "mean predictor",
        "ef_mae_vs_best_pixel_baseline": "best pixel baseline",
    }
    items = []
    for key, label in names.items():
        c = comparisons.get(key)
        if c is None:
            continue
        if not_measured(c):
            items.append(f"<li>vs the {label}: {_fmt(c)}</li>")
            continue
        verdict = "the interval excludes zero" if c["excludes_zero"] else "the interval includes zero"
        label += f" ({html.escape(c['baseline'])})" if c.get("baseline") else ""
        items.append(
            f"<li>vs the {label}: EF MAE difference (candidate − baseline, served ensembles) "
            f"{c['difference']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}], 95 % paired bootstrap over "
            f"{c['n']} TEST videos: {verdict}</li>"
        )
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def _effective_rank_section(report: dict) -> str:
    """The collapse monitor: RankMe of each encoder on the held-out clips, and pretraining's checkpoints."""
    ranks = report.get("effective_rank")
    if ranks is None:
        return '<p class="na">not recorded (a report older than the collapse monitor)</p>'
    if not_measured(ranks):
        return f"<p>{_fmt(ranks)}</p>"
    names = [
        ("served", "served encoder (encoder.pt; the gated one)"),
        ("target_encoder", "EMA target encoder (target_encoder.pt)"),
        ("random_init", "random-init encoder (same architecture and seed)"),
    ]
    rows = [
        [html.escape(label), _fmt(ranks[key]["tokens"]), _fmt(ranks[key]["pooled"])]
        for key, label in names
        if isinstance(ranks.get(key), dict)
    ]
    caption = (
        f"<p>RankMe (Garrido et al. 2023: exp of the entropy of the normalised singular values; 1: collapsed "
        f"to one direction, at most {ranks.get('width')}) on {ranks.get('clips')} held-out "
        f"({html.escape(str(ranks.get('split')))}) clips, one per study. Tokens are centred per position, so "
        "the positional embeddings do not count; pooled is the token mean per clip, raw.</p>"
    )
    header = ["encoder", "RankMe of tokens (centred per position)", "RankMe of pooled embeddings"]
    parts = [caption, _table(header, rows)]
    steps = ranks.get("by_step") or []
    if steps:
        step_rows = [
            [str(r["step"]), html.escape(str(r["encoder"])), _fmt(r["tokens"]), _fmt(r["pooled"])]
            for r in steps
        ]
        parts += [
            "<p>During pretraining (every checkpoint, the same clips):</p>",
            _table(["step", "encoder", "RankMe of tokens", "RankMe of pooled"], step_rows),
        ]
    return "".join(parts)


def render(report: dict) -> str:
    """The model card of a report as one HTML string."""
    gates = rows(report.get("gates", []))
    failures = failed_gates(gates)
    verdict = "pass" if not failures else "fail"
    headline = (
        "ALL GATES PASS"
        if all(g.passed for g in gates)
        else (f"{len(failures)} GATE(S) BLOCK" if failures else "NO GATE BLOCKS")
    )
    headline += f" — {GateCounts.of(gates)}"
    advisory = [g.name for g in gates if g.advisory and not g.passed]
    if advisory:
        headline += f" (advisory, not blocking: {', '.join(advisory)})"
    version = html.escape(str(report.get("model_version", "unknown")))
    pediatric = report.get("pediatric")
    details = json.dumps({k: report.get(k) for k in ("config", "timing", "embeddings", "test_set")}, indent=2)
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Model card {version}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Model card: {version}</h1>",
        _table(
            ["", ""],
            [
                ["model version", version],
                ["data version", html.escape(str(report.get("data_version", "unknown")))],
                ["encoder", html.escape(str(report.get("encoder", "")))],
                ["TEST set", html.escape(json.dumps(report.get("test_set", {})))],
                [
                    "pediatric set",
                    html.escape(f"{pediatric.get('dataset')} (n = {pediatric.get('n')})")
                    if isinstance(pediatric, dict) and "dataset" in pediatric
                    else _fmt(pediatric),
                ],
            ],
        ),
        f'<h2>Summary</h2><p><span class="verdict {verdict}">{headline}</span></p>',
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in failures) + "</ul>" if failures else "",
        "".join(f'<p class="warning">⚠ {html.escape(w)}</p>' for w in report.get("warnings", [])),
        "<h2>Gates</h2>",
        _gates_table(gates),
        "<h2>Metrics</h2>",
        _probe_line(report),
        _metrics_table(report.get("metrics", {})),
        "<h2>Plots</h2>",
        plots_section(report),
        "<h2>Subgroups</h2>",
        _subgroups_table(report.get("subgroups", {})),
        "<h2>Baselines of the same run</h2>",
        _baselines_table(report),
        "<h2>Collapse monitor (effective rank)</h2>",
        _effective_rank_section(report),
        "<h2>Run details</h2><details><summary>config, timing, embeddings</summary>",
        f"<pre>{html.escape(details)}</pre></details></body></html>",
    ]
    return "\n".join(parts)


def write_model_card(report: dict, out: Path) -> Path:
    """Write the HTML model card of a report to `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report), encoding="utf-8")
    return out


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """`out_dir/evaluation.json` and `out_dir/model_card.html`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "evaluation.json"
    report = jsonable(report)
    check_report(report)  # the schema of evaluation.json: no string where a number belongs
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return json_path, write_model_card(report, out_dir / "model_card.html")
