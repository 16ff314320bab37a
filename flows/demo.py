"""`echojepa demo`: the platform end to end on synthetic data.

Stages: the DVC pipeline (simulate → validate → prepare → pretrain → embed → features → probe →
evaluate with the release gates), the dataset summary, acoustic perturbations and the cause classifier on a
held-out clip; then (flows.demo_production) the retrain flow up to its approval wait, a reviewer's approval
through the CLI, packaging, `echojepa serve`, clean then degraded traffic, two monitoring runs and the retrain
run the drift event starts. A rerun reuses every stage whose inputs did not change.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def _perturbation_check(dataset: Path, out: Path) -> list[tuple[str, str]]:
    """Perturb one test clip with every kind at high severity and name each with the cause classifier."""
    import numpy as np
    import pandas as pd

    from ultrasound.causes import classify_causes
    from ultrasound.perturbations import PERTURBATION_KINDS, perturb
    from ultrasound.quality import quality_metrics
    from ultrasound.video_io import read_video, write_avi

    table = pd.read_csv(dataset / "FileList.csv")
    name = table[table.Split == "TEST"].FileName.iloc[0]
    clip = read_video(dataset / "Videos" / f"{name}.avi")
    rows = []
    for kind in ("none", *PERTURBATION_KINDS):
        frames = (
            clip.frames if kind == "none" else perturb(clip.frames, kind, "high", np.random.default_rng(0))
        )
        write_avi(out / f"{name}_{kind}.avi", frames, clip.fps)
        verdict = classify_causes(quality_metrics(frames, clip.fps))
        rows.append((kind, ", ".join(verdict.causes) if verdict.degraded else "clean"))
    return rows


def _repro(console) -> float:
    """`dvc repro`: every pipeline stage whose inputs changed runs, the rest is reused."""
    import subprocess
    import sys

    from flows.demo_release import env_with

    if not Path("dvc.yaml").is_file():
        raise ValueError("dvc.yaml not found: run the demo from the repository root")
    start = time.perf_counter()
    console.print("[bold]pipeline[/] dvc repro (stages whose inputs are unchanged are reused)")
    done = subprocess.run([sys.executable, "-m", "dvc", "repro"], env=env_with())
    if done.returncode != 0:
        raise ValueError("dvc repro failed (see the stage output above)")
    return time.perf_counter() - start


def _results_table():
    """What the pipeline produced: validation counts, pretraining, probe metrics."""
    from rich.table import Table

    from model.config import load_config

    config = load_config("params.yaml")
    run = f"{config.optimization.method}-{config.model.preset}"
    table = Table(title=f"Pipeline results ({config.data.dataset}, {run})")
    table.add_column("stage")
    table.add_column("result")
    validation = json.loads(Path(f"reports/validation/{config.data.dataset}/summary.json").read_text())
    table.add_row(
        "validate",
        f"{validation['rows_in']} rows: {validation['accepted']} accepted, "
        f"{validation['quarantined']} quarantined",
    )
    pre = json.loads(Path(f"models/{run}/metrics.json").read_text())
    table.add_row(
        "pretrain",
        f"{pre['steps']} steps, loss {pre['first_loss']:.3f} → {pre['final_loss']:.3f}, "
        f"{pre['seconds']:.0f} s",
    )
    probes = json.loads(Path("reports/probes/metrics.json").read_text())
    for task, per in probes["tasks"].items():
        if isinstance(per, str):
            table.add_row(f"probe {task}", per)
            continue
        key = "mae" if task == "ef" else "accuracy"
        shown = ", ".join(
            f"{float(f):.0%} labels {m[key]['mean']:.2f}±{m[key]['std']:.2f}" for f, m in per.items()
        )
        table.add_row(f"probe {task} ({key}, TEST)", shown)
    evaluation = json.loads(Path("reports/evaluation.json").read_text())
    failed = [
        f"{g['name']} ({g['value']} vs {g['threshold']}{', advisory' if g.get('advisory') else ''})"
        for g in evaluation["gates"]
        if not g["passed"]
    ]
    passed = len(evaluation["gates"]) - len(failed)
    table.add_row(
        "gates",
        f"{passed} of {len(evaluation['gates'])} passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
    )
    return table


def run_demo() -> None:
    """Run every stage that exists and print what happened and where to look."""
    from rich.console import Console
    from rich.table import Table

    from flows.demo_production import run_production
    from flows.reports import print_dataset_summary

    console = Console()
    console.rule("EchoJEPA demo")
    times: dict[str, float] = {}
    seconds = _repro(console)
    times["pipeline (dvc repro: simulate … evaluate)"] = seconds
    console.print(f"[bold]pipeline[/] done in {seconds:.0f} s")
    out = Path("data/raw/synthetic")
    pediatric = out.with_name(out.name + "-pediatric")
    print_dataset_summary(out)
    console.print(_results_table())
    perturbed = Path("data/demo/perturbed")
    checks = _perturbation_check(out, perturbed)
    table = Table(title="Cause classifier on one test clip, each perturbation at 'high'")
    table.add_column("applied")
    table.add_column("named")
    for applied, named in checks:
        table.add_row(applied, named)
    console.print(table)
    console.rule("release, serving, monitoring")
    production = run_production(console, times)
    console.rule("where to look")
    console.print(f"datasets: {out}/ and {pediatric}/ · validated rows and quarantine: data/validated/")
    console.print(
        "data docs (Great Expectations): reports/validation/*/data_docs/index.html"
        " · `dvc metrics show` · `dvc plots show`"
    )
    console.print(
        "encoder run: models/jepa-tiny/ · embeddings: data/embeddings/ · feature store: data/features/"
    )
    console.print("probe metrics and TEST predictions: reports/probes/ · model card: reports/model_card.html")
    console.print(
        "release: `echojepa retrain` waits for a reviewer when the gates pass; `echojepa release list`"
    )
    console.print(f"perturbed clips: {perturbed}/  ·  inspect any video: echojepa quality {perturbed}/*.avi")
    _where_production(console, production)
    console.print(_times_table(times))


def _where_production(console, production: dict) -> None:
    rel, (clean, degraded) = production["release"], production["monitor"]
    ui = production["api"].removesuffix("/api")
    console.print(
        f"production model: {rel['tag']} (candidate {rel['candidate_id']}) · `echojepa release list` · "
        "`echojepa ledger verify` · production log: data/production/"
    )
    for name, result in (("clean", clean), ("degraded", degraded)):
        causes = ", ".join(result.get("degradation", {}).get("causes", [])) or "none"
        verdict = "ALERT" if result.get("alert") else "no alert"
        console.print(
            f"monitoring, {name} window: {verdict}, likely cause: {causes} · {result.get('report_dir')}"
        )
    runs = production["triggered"]
    if runs:
        console.print(
            f"the drift event started retrain run {runs[0].name} ({runs[0].state_name}); the demo does not "
            "execute it: `echojepa orchestrator up` would"
        )
    elif degraded.get("alert"):
        console.print("no new retrain run: the trigger's 24 h cooldown holds after an earlier drift event")
    console.print(f"Prefect UI: `prefect server start`, then {ui} (flow runs, artifacts, the approval form)")
    console.print("Evidently UI: `echojepa monitor ui` → http://127.0.0.1:8000 (the production project)")


def _times_table(times: dict[str, float]):
    from rich.table import Table

    table = Table(title="Demo wall time per stage")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in times.items():
        table.add_row(stage, f"{seconds:.0f}")
    table.add_row("total", f"{sum(times.values()):.0f}")
    Path("reports/demo").mkdir(parents=True, exist_ok=True)
    Path("reports/demo/times.json").write_text(json.dumps(times, indent=2) + "\n")
    return table
