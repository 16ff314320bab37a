"""The EchoJEPA paper's comparisons re-run at equal compute on any EchoNet-layout folder (`echojepa experiment
seed-table`): JEPA vs VideoMAE (pixel reconstruction) vs a supervised-from-scratch video model, all trained
for the same steps at the same batch from the same seed, plus the randomly initialised frozen encoder; each
encoder is pretrained once, then measured with the evaluation's frozen-encoder protocol (experiments.protocol:
params.yaml `probe:` over its seeds). Results go to the run layout's reports/experiments/seed-table/
(results.json, table.md, seed_table.png, params.resolved.yaml).

    from experiments.seed_table import run_seed_table
    results = run_seed_table("tiny", data_dir=None, pediatric_dir=None)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from config import PARAMS_FILE
from config.layout import DataLayout
from config.params import Params, load_params, parse_overrides
from evaluation.probe_protocol import protocol_summary
from evaluation.results import jsonable
from evaluation.tokens import Progress
from experiments.budgets import (
    METHODS,
    PRETRAINED,
    budget_of,
    check_manifest,
    check_methods,
    datasets,
    method_params,
)
from experiments.compute_curve import SCALES, check_scales, run_curve, write_curve
from experiments.protocol import PEDIATRIC_FOLDS, measure, run_baselines

NAME = "seed-table"  # reports/experiments/<NAME>/, models/experiments/<NAME>-<budget>/
# bumped when the measurements change shape: cached ones are then measured again (4: ef_selection)
PROTOCOL_VERSION = 4


def run_folder(models_dir: Path, budget: str, method: str, params: Params, adult: DataLayout) -> Path:
    """One folder per method *and* resolved model config and manifest: a changed setting, seed or dataset
    trains afresh instead of resuming (or reusing) another configuration's checkpoint."""
    digest = hashlib.sha256(json.dumps(params.pretrain.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(adult.manifest.read_bytes())
    return Path(models_dir) / f"{NAME}-{budget}" / f"{method}-{digest.hexdigest()[:10]}"


def ensure_pretrained(params: Params, folder: Path, progress: bool = True) -> tuple[Path, dict]:
    """The method's encoder weights, pretrained once in its own run folder (`run_folder`): reused when the
    run completed (metrics.json is written last, after the weights), resumed from its last checkpoint when
    it was interrupted. JEPA is evaluated through its EMA target encoder, as V-JEPA's evaluations load it
    (`checkpoint_key: target_encoder`)."""
    from model.train import pretrain

    metrics_file = folder / "metrics.json"
    if (folder / "encoder.pt").is_file() and metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
        if metrics.get("steps") == params.optimization.steps:
            return _weights(folder), metrics | {"reused": True}
    metrics = pretrain(params.pretrain, folder, resume=True, progress=progress)
    return _weights(folder), metrics


def _weights(folder: Path) -> Path:
    target = folder / "target_encoder.pt"
    return target if target.is_file() else folder / "encoder.pt"


def protocol_key(
    encoder: Path | None, params: Params, adult: DataLayout, pediatric: DataLayout | None
) -> str:
    """What a method's measurements depend on; unchanged -> its cached results are reused."""
    digest = hashlib.sha256()
    digest.update(encoder.read_bytes() if encoder else json.dumps(params.model.model_dump()).encode())
    for dataset in (adult, pediatric):
        if dataset is not None:
            digest.update(dataset.manifest.read_bytes())
    parts = (
        params.data.model_dump(mode="json"), params.probe.model_dump(mode="json"),
        params.evaluate.model_dump(mode="json"), params.optimization.seed, PEDIATRIC_FOLDS, PROTOCOL_VERSION,
    )  # fmt: skip
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def measured(
    method: str, encoder_path: Path | None, params: Params, adult: DataLayout, pediatric: DataLayout | None,
    cache: Path, on_progress: Progress | None, on_stage: Callable[[str], None] | None,
) -> dict:  # fmt: skip
    """A method's measurements: cached in `cache` under their `protocol_key`, measured when it changed."""

    def every_number(encoder, params: Params, adult: DataLayout, on_progress: Progress | None) -> dict:
        if on_stage:
            on_stage(f"{method}: frozen-encoder protocol")
        return measure(encoder, params, adult, pediatric, on_progress=on_progress)

    return measured_with(every_number, method, encoder_path, params, adult, cache, on_progress, pediatric)


def measured_with(
    measure_fn: Callable, name: str, encoder_path: Path | None, params: Params, adult: DataLayout,
    cache: Path, on_progress: Progress | None, pediatric: DataLayout | None = None,
) -> dict:  # fmt: skip
    """`measure_fn(encoder, params, adult, on_progress)` of the encoder at `encoder_path` (random init when
    None), cached in `cache` under its `protocol_key` and measured again only when that changed."""
    import torch

    from model.embed import load_encoder

    key = protocol_key(encoder_path, params, adult, pediatric)
    saved = json.loads(cache.read_text()) if cache.is_file() else {}
    if saved.get("key") == key:
        return saved["measured"]
    encoder = load_encoder(params.pretrain, encoder_path)
    if torch.cuda.is_available():  # the gpu budget: embed on the GPU in bf16 (probes follow)
        encoder = encoder.cuda()
    result = jsonable(measure_fn(encoder, params, adult, on_progress))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "measured": result, "name": name}, indent=2) + "\n")
    return result


def run_seed_table(
    budget: str = "tiny",
    data_dir: Path | None = None,
    pediatric_dir: Path | None = None,
    out_dir: Path | None = None,
    models_dir: Path | None = None,
    methods: tuple[str, ...] = METHODS,
    seeds: tuple[int, ...] | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    params: Path = PARAMS_FILE,
    on_progress: Progress | None = None,
    on_stage: Callable[[str], None] | None = None,
    curve: Sequence[float] = SCALES,
) -> dict:
    """Pretrain (once) and measure each method and the compute curve (experiments.compute_curve); write
    results.json, table.md, compute_curve.{json,md,png}, the plots and the resolved parameters.

    Args:
        params: the parameter file (read once, through config.params.load_params).
        out_dir, models_dir: default the run layout's reports/experiments/seed-table and models/experiments.
        seeds: probe seeds (default params.yaml `probe.seeds`).
        overrides: dotted params.yaml overrides applied after the budget's (e.g. optimization.steps=1000,
            probe.epochs=2), the same for every method.
        curve: the compute curve's budgets as multiples of the table's (empty: no curve).
    Raises:
        ValueError (ConfigError included): an unknown budget or method, a bad key, unusable data; before
            any training.
    """
    plan = budget_of(budget)
    check_methods(methods)
    settings = dict(plan.overrides) | parse_overrides(overrides)
    if seeds:
        settings["probe.seeds"] = list(seeds)
    base = load_params(params, settings)
    layout = base.layout()
    out_dir = Path(out_dir or layout.experiment_reports / NAME)
    models_dir = Path(models_dir or layout.experiment_runs)
    adult, pediatric = datasets(base, data_dir, pediatric_dir)
    curve = check_scales(curve) if curve else ()
    # the curve trains a supervised model at its largest budget whatever `methods` holds
    check_manifest(adult.manifest, "supervised" in methods or bool(curve))
    out_dir.mkdir(parents=True, exist_ok=True)
    base.write_resolved(out_dir)
    results: dict = {"budget": budget, "data": str(adult.dataset_dir), "methods": {}}
    results["pediatric_data"] = str(pediatric.dataset_dir) if pediatric else None
    results["report_dir"] = str(out_dir)
    for method in methods:
        run_params = method_params(base, method, adult)
        if on_stage:
            on_stage(f"{method}: pretraining" if method in PRETRAINED else f"{method}: no training")
        encoder_path, train = None, {"steps": 0, "seconds": 0.0, "flops_per_step": 0.0}
        if method in PRETRAINED:
            folder = run_folder(models_dir, budget, method, run_params, adult)
            encoder_path, train = ensure_pretrained(run_params, folder)
        cache = out_dir / "methods" / f"{method}.json"
        numbers = measured(method, encoder_path, run_params, adult, pediatric, cache, on_progress, on_stage)
        results["methods"][method] = numbers | {"pretraining": pretraining(run_params, encoder_path, train)}
    if on_stage:
        on_stage("baselines: mean predictor and pixel-only estimators")
    results["baselines"] = run_baselines(base, adult, out_dir / "baselines")
    results["probe_protocol"] = protocol_summary(base.probe)
    results["overrides"] = settings
    results["config"] = {
        "model": base.model.model_dump(mode="json"), "probe": base.probe.model_dump(mode="json"),
        "evaluate": base.evaluate.model_dump(mode="json"), "pediatric_folds": PEDIATRIC_FOLDS,
    }  # fmt: skip
    results = _written(results, out_dir)  # the table first: an interrupted curve loses none of it
    if curve:
        results["compute_curve"] = run_curve(
            base, adult, models_dir, budget, out_dir, results["baselines"], curve, on_progress, on_stage
        )
        write_curve(results["compute_curve"], out_dir)
        results = _written(results, out_dir)
    return results


def _written(results: dict, out_dir: Path) -> dict:
    """results.json, table.md and the plots from `results`; the JSON form returned."""
    from experiments.report import write_report

    results = jsonable(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, out_dir)
    return results


def pretraining(params: Params, encoder_path: Path | None, train: dict) -> dict:
    """What a method's pretraining cost: steps, global batch, FLOPs, seconds (and whether it was reused)."""
    steps = int(train.get("steps", 0))
    return {
        "steps": steps,
        "batch": params.data.batch_size * params.trainer.devices * params.trainer.num_nodes,
        "weights": encoder_path.name if encoder_path else "random init",
        "seconds": train.get("seconds"),
        "reused": bool(train.get("reused")), "final_loss": train.get("final_loss"),
        "total_flops": steps * float(train.get("flops_per_step", 0.0)),
    }  # fmt: skip
