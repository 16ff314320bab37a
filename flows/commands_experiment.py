"""`echojepa experiment seed-table`: the EchoJEPA paper's comparisons re-run at equal compute on any
EchoNet-layout data (experiments.seed_table). Heavy imports stay inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cyclopts import App

from config import PARAMS_FILE
from flows.app import app

experiment_app = App(
    name="experiment", help="Research experiments: the seed paper's comparisons on your data."
)
app.command(experiment_app)


@experiment_app.command(name="seed-table")
def seed_table(
    *,
    budget: Literal["tiny", "gpu"] = "tiny",
    data: Path | None = None,
    pediatric: Path | None = None,
    out: Path | None = None,
    methods: list[Literal["jepa", "videomae", "supervised", "random_init"]] | None = None,
    seeds: list[int] | None = None,
    params: Path = PARAMS_FILE,
    set: list[str] | None = None,
    curve: list[float] | None = None,
    no_curve: bool = False,
) -> None:
    """JEPA vs VideoMAE vs supervised-from-scratch vs a random-init frozen encoder, at equal compute.

    Each method is pretrained once (same steps, batch, data and seed; reused on a re-run, resumed when
    interrupted) under models/experiments/seed-table-BUDGET/, then measured with the same frozen-encoder
    protocol as the evaluation (params.yaml `probe:`): EF MAE, view accuracy at 1 / 10 / 100 % of the labels,
    EF MAE under the six robustness settings, pediatric zero-shot vs probe-trained; probes over 3 seeds (mean
    ± std). Writes results.json, table.md (the paper's numbers beside ours, each claim marked reproduced or
    not), seed_table.png and params.resolved.yaml to --out.

    Parameters
    ----------
    budget
        tiny: params.yaml's CPU preset (under 30 min on 2 cores); gpu: ViT-L/16, 30k steps at batch 64,
        bf16, on one GPU (a few hours).
    data
        An EchoNet-layout folder (FileList.csv + Videos/), e.g. EchoNet-Dynamic; default: the pipeline's
        dataset (its validated manifest when the validate stage has run).
    pediatric
        An EchoNet-layout pediatric folder (ingest EchoNet-Pediatric with `echojepa ingest` first); default:
        the simulated pediatric set when --data is not given, else none (the pediatric column reads n/a).
    out
        Report folder; default the run layout's reports/experiments/seed-table.
    methods
        A subset of the methods (default all four).
    seeds
        Probe seeds (default params.yaml probe.seeds: 0 1 2).
    params
        Parameter file (read once; the budget's settings and --set apply on top).
    set
        Overrides for every method, section.key=value (e.g. optimization.steps=1000 probe.epochs=10).
    curve
        The compute curve's budgets as multiples of the table's training FLOPs (default 0.25 1 4 at tiny;
        none at gpu unless given: it costs about 15x the table's JEPA run): JEPA and VideoMAE at equal
        FLOPs at each (two pretraining seeds at 1), supervised at the largest; EF only.
    no_curve
        Skip the compute curve (the table alone).
    """
    from experiments.budgets import METHODS
    from experiments.compute_curve import SCALES
    from experiments.seed_table import run_seed_table
    from flows.progress import StageBars

    bars = StageBars()
    try:
        results = run_seed_table(
            budget, data, pediatric, out, methods=tuple(methods or METHODS), seeds=tuple(seeds or ()),
            overrides=set or [], params=params, on_progress=bars.advance, on_stage=bars.stage,
            curve=() if no_curve or (budget == "gpu" and not curve) else tuple(curve or SCALES),
        )  # fmt: skip
    finally:
        bars.close()
    out = Path(results["report_dir"])
    bars.console.print((out / "table.md").read_text(), markup=False, highlight=False)
    curve_files = ", compute_curve.md/.png/.json" if results.get("compute_curve") else ""
    print(f"wrote {out / 'table.md'}, {out / 'seed_table.png'}{curve_files} and {out / 'results.json'} "
          f"({len(results['methods'])} methods)")  # fmt: skip
