"""A monitor run's files under reports/monitoring/<run>/ and its markdown summary.

drift.html / drift.json     the Evidently report of the window against the reference
labels.html / labels.json   delayed-label errors (only when some prediction has a label)
result.json                 every number of the run, the decision and the event payload
summary.md                  what the Prefect artifact shows
config.yaml                 the resolved monitoring config the run used
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.run import MonitoringResult


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def _status(fired: bool | None, word: str) -> str:
    return "n/a" if fired is None else (f"**{word}**" if fired else "ok")


def summary_markdown(result: MonitoringResult) -> str:
    """The run as markdown: decision, one table row per check, degradation causes, label accuracy."""
    d, g, lab, cfg = result.drift, result.degradation, result.labels, result.config
    head = f"ALERT ({', '.join(result.reasons)})" if result.alert else "no alert"
    drifted = ", ".join(d.quality_drifted) or "none"
    ef = "n/a" if d.mean_ef is None else f"{d.mean_ef:.1f} (reference {d.reference_mean_ef:.1f})"
    causes = ", ".join(g.causes) or "none"
    lines = [
        f"### Monitoring {result.run_id}: {head}",
        f"model `{result.model_version}` · window {result.since:%Y-%m-%d %H:%M} → "
        f"{result.until:%Y-%m-%d %H:%M} UTC · {d.rows} videos against {d.reference_rows} reference videos",
        "",
        "| check | value | threshold | status |",
        "|---|---|---|---|",
        f"| image-quality drift | {d.quality_share:.0%} of {len(d.quality_tested)} metrics drifted "
        f"({drifted}) "
        f"| ≥ {cfg.drift_share:.0%} ({cfg.drift_method} p < {cfg.drift_threshold}) "
        f"| {_status(d.quality_detected, 'DRIFT')} |",
        f"| EF prediction drift | KS p = {_p(d.ef_p)}; mean EF {ef} | p < {cfg.prediction_threshold} "
        f"| {_status(None if d.ef_p is None else d.ef_p < cfg.prediction_threshold, 'DRIFT')} |",
        f"| view-mix drift | chi² p = {_p(d.view_p)} | p < {cfg.prediction_threshold} "
        f"| {_status(None if d.view_p is None else d.view_p < cfg.prediction_threshold, 'DRIFT')} |",
        f"| embedding drift | MMD² = {_p(d.mmd)} | > {cfg.embedding_mmd_threshold} "
        f"| {_status(d.embedding_detected, 'DRIFT')} |",
        f"| image-quality degradation | {g.flagged}/{g.n} clips flagged ({g.share:.0%} vs {g.clean_rate:.0%} "
        f"clean, p = {g.p_value:.2g}); cause: {causes} | +{cfg.degradation_share:.0%} over clean, "
        f"p < {cfg.degradation_alpha} | {_status(g.degraded, 'DEGRADED')} |",
        f"| delayed-label EF MAE | {lab.text} | ≤ {lab.limit:.1f} "
        f"| {_status(None if lab.mae is None else lab.alert, 'WORSE')} |",
    ]
    if g.degraded:
        lines += ["", "**Likely cause**", *(f"- {a}" for a in g.advice)]
    if lab.mae is not None:
        lines += ["", "| delayed labels | n | EF MAE |", "|---|---|---|"]
        groups = [("day", lab.daily), ("device", lab.by_device), ("cohort", lab.by_cohort)]
        for name, rows in groups:
            items = [(r["date"], r) for r in rows] if isinstance(rows, list) else list(rows.items())
            lines += [f"| {name} {key} | {r['n']} | {r['mae']:.2f} |" for key, r in items]
    if d.notes:
        lines += ["", *(f"_{note}_" for note in d.notes)]
    lines += ["", f"reports: `{result.report_dir}`"]
    return "\n".join(lines) + "\n"


def write_reports(result: MonitoringResult, snapshots: dict[str, object]) -> Path:
    """Write the run's files into result.report_dir; returns it."""
    import yaml

    folder = Path(result.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, snapshot in snapshots.items():
        snapshot.save_html(str(folder / f"{name}.html"))
        snapshot.save_json(str(folder / f"{name}.json"))
    (folder / "result.json").write_text(json.dumps(result.as_dict(), indent=2, default=str) + "\n")
    (folder / "summary.md").write_text(summary_markdown(result))
    (folder / "config.yaml").write_text(
        yaml.safe_dump(result.config.model_dump(mode="json"), sort_keys=False)
    )
    return folder
