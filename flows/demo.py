"""`echojepa demo`: the platform end to end on synthetic data, as far as it reaches today.

Stages so far: the DVC pipeline (simulate → validate → prepare → pretrain → embed → features → probe →
evaluate with the release gates), the dataset summary and realism check, acoustic perturbations and the cause
classifier on a held-out clip. A rerun reuses every stage whose inputs did not change.
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
    import os
    import subprocess
    import sys

    if not Path("dvc.yaml").is_file():
        raise ValueError("dvc.yaml not found: run the demo from the repository root")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    console.print("[bold]pipeline[/] dvc repro (stages whose inputs are unchanged are reused)")
    done = subprocess.run([sys.executable, "-m", "dvc", "repro"], env=env)
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
        f"{g['name']} ({g['value']} vs {g['threshold']})" for g in evaluation["gates"] if not g["passed"]
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

    from flows.reports import print_dataset_summary

    console = Console()
    console.rule("EchoJEPA demo")
    seconds = _repro(console)
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
    console.print("not yet built: serving, monitoring (open issues)")
