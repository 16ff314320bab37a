"""What the demo prints: the pipeline's results, "where to look" and the wall times, as pure functions of
the run layout's files (config.layout) and of what the production half returned.

Every path comes from the layout; every metric is read with evaluation.results (`value_of`, `render`: a
metric that was not measured reads "n/a — reason", never a number) and every gate is a `GateResult`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.layout import RunLayout
from evaluation.gates import GateCounts, GateResult, rows
from evaluation.probe_protocol import HEADLINE
from evaluation.results import measured, render, value_of

DEMO_DATA = Path("data/demo")  # the demo's own clips (perturbed, degraded traffic): not pipeline outputs


@dataclass(frozen=True)
class DemoLayout:
    """The demo's own files, beside the run layout's (which names everything the pipeline produces)."""

    run: RunLayout

    @property
    def perturbed(self) -> Path:
        return DEMO_DATA / "perturbed"

    @property
    def traffic(self) -> Path:
        return DEMO_DATA / "traffic"

    @property
    def reports(self) -> Path:
        return self.run.reports_dir / "demo"

    @property
    def serve_log(self) -> Path:
        return self.reports / "serve.log"

    @property
    def times(self) -> Path:
        """The per-stage wall times, written last (benchmarks/bench_demo.py reads them)."""
        return self.reports / "times.json"


@dataclass(frozen=True)
class Released:
    """The production model after the release step (`reused`: it already served this encoder and probes)."""

    tag: str
    candidate_id: str
    reused: bool


@dataclass(frozen=True)
class ProductionOutcome:
    """What the production half did: the release, the monitor results (clean then degraded window) and the
    retrain runs the drift event started, as "name (state)"."""

    release: Released
    monitor: tuple[dict, dict]
    triggered: tuple[str, ...]
    api: str


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _number(node: Any, spec: str) -> str:
    """A JSON number formatted with `spec`, or the NotMeasured reason (a NaN loss, a missing key)."""
    value = value_of(node)
    return format(value, spec) if measured(value) else str(value)


def _spread(summary: dict) -> str:
    """mean ± std of the single probes of a label fraction."""
    return f"{_number(summary.get('mean'), '.2f')}±{_number(summary.get('std'), '.2f')}"


def _probe_row(task: str, report: dict) -> tuple[str, str]:
    """A task's label-efficiency curve (mean ± std over seeds) and the served ensemble's TEST value."""
    if "by_fraction" not in report:  # the task was not measurable: {"value": null, "reason": ...}
        return f"probe {task}", render(report)
    key = HEADLINE[task][0]
    shown = []
    for fraction, row in report["by_fraction"].items():
        same = row.get("same_rows_as")
        repeat = f" (same rows as {float(same):.0%})" if same else ""
        shown.append(f"{float(fraction):.0%} labels {_spread(row[key])}{repeat}")
    seeds = len(report.get("seeds", []))
    served = render(report.get("metrics", {}).get(key))
    return f"probe {task} ({key}, TEST)", ", ".join(shown) + f"; served ensemble of {seeds}: {served}"


def _validation(summary: dict) -> str:
    return f"{summary['rows_in']} rows: {summary['accepted']} accepted, {summary['quarantined']} quarantined"


def _pretraining(metrics: dict) -> str:
    loss = f"{_number(metrics.get('first_loss'), '.3f')} → {_number(metrics.get('final_loss'), '.3f')}"
    return f"{metrics['steps']} steps, loss {loss}, {_number(metrics.get('seconds'), '.0f')} s"


def results_rows(layout: RunLayout) -> list[tuple[str, str]]:
    """(stage, result) rows: validation counts, pretraining, probe metrics, gates; a file the pipeline did
    not write reads "missing: PATH" (the table is printed after minutes of work: it shows, never crashes)."""
    out: list[tuple[str, str]] = []
    for stage, path, describe in (
        ("validate", layout.data.validation_reports / "summary.json", _validation),
        ("pretrain", layout.pretrain_metrics, _pretraining),
    ):
        found = _read(path)
        out.append((stage, f"missing: {path}" if found is None else describe(found)))
    probes = _read(layout.probe_metrics)
    if probes is None:
        out.append(("probes", f"missing: {layout.probe_metrics}"))
    for task, report in (probes or {}).get("tasks", {}).items():
        out.append(_probe_row(task, report))
    evaluation = _read(layout.evaluation)
    out.append(("gates", f"missing: {layout.evaluation}" if evaluation is None else gates_line(evaluation)))
    return out


def gates_line(evaluation: dict) -> str:
    """The gate counts and each failed gate with its value, threshold and whether it blocks."""
    gates = rows(evaluation.get("gates", []))
    failed = [f"{g.failure()} ({g.label if g.measured else _stops(g)})" for g in gates if not g.passed]
    return str(GateCounts.of(gates)) + (f"; failed: {', '.join(failed)}" if failed else "")


def _stops(gate: GateResult) -> str:
    return "advisory" if gate.advisory else "blocks"


def where_to_look(layout: RunLayout, demo: DemoLayout) -> list[str]:
    """Where the pipeline's and the demo's outputs are, and the commands that show them."""
    data, pediatric = layout.data, layout.pediatric_dir
    datasets = f"{data.dataset_dir}/" + (f" and {pediatric}/" if pediatric is not None else "")
    return [
        f"datasets: {datasets} · validated rows and quarantine: {data.validated_dir}/",
        f"data docs (Great Expectations): {data.validation_reports}/data_docs/index.html"
        " · `dvc metrics show` · `dvc plots show`",
        f"encoder run: {layout.run_dir}/ · embeddings: {layout.embeddings_dir}/ · feature store: "
        f"{layout.features_root}/",
        f"served probes: {layout.probes_dir}/ · probe metrics and TEST predictions: "
        f"{layout.probe_metrics.parent}/ · evaluation: {layout.evaluation} · model card: {layout.model_card}",
        "release: `echojepa retrain` waits for a reviewer when the gates pass; `echojepa release list`",
        f"perturbed clips: {demo.perturbed}/  ·  inspect any video: echojepa quality {demo.perturbed}/*.avi",
    ]


def where_production(layout: RunLayout, production: ProductionOutcome) -> list[str]:
    """The production model, both monitoring verdicts, the retrain run the drift event started, the UIs."""
    rel, (clean, degraded) = production.release, production.monitor
    lines = [
        f"production model: {rel.tag} (candidate {rel.candidate_id}) · `echojepa release list` · "
        f"`echojepa ledger verify` · ledger: {layout.ledger} · production log: {layout.production_log}/"
    ]
    for name, result in (("clean", clean), ("degraded", degraded)):
        causes = ", ".join(result.get("degradation", {}).get("causes", [])) or "none"
        verdict = "ALERT" if result.get("alert") else "no alert"
        lines.append(
            f"monitoring, {name} window: {verdict}, likely cause: {causes} · {result.get('report_dir')}"
        )
    if production.triggered:
        lines.append(
            f"the drift event started retrain run {production.triggered[0]}; the demo does not execute it: "
            "`echojepa orchestrator up` would"
        )
    elif degraded.get("alert"):
        lines.append("no new retrain run: the trigger's 24 h cooldown holds after an earlier drift event")
    ui = production.api.removesuffix("/api")
    lines.append(f"Prefect UI: `prefect server start`, then {ui} (flow runs, artifacts, the approval form)")
    lines.append("Evidently UI: `echojepa monitor ui` → http://127.0.0.1:8000 (the production project)")
    return lines


def table(title: str, columns: tuple[str, ...], body: list[tuple[str, ...]]):
    """A rich table of string rows (a "seconds" column right-aligned, so the figures line up)."""
    from rich.table import Table

    out = Table(title=title)
    for column in columns:
        out.add_column(column, justify="right" if column == "seconds" else "left")
    for row in body:
        out.add_row(*row)
    return out


def times_rows(times: dict[str, float]) -> list[tuple[str, str]]:
    return [(stage, f"{s:.0f}") for stage, s in times.items()] + [("total", f"{sum(times.values()):.0f}")]


def write_times(demo: DemoLayout, times: dict[str, float]) -> Path:
    demo.times.parent.mkdir(parents=True, exist_ok=True)
    demo.times.write_text(json.dumps(times, indent=2) + "\n")
    return demo.times
