"""The EchoJEPA paper's comparisons re-run at equal compute on any EchoNet-layout folder (`echojepa experiment
seed-table`): JEPA vs VideoMAE (pixel reconstruction) vs a supervised-from-scratch video model, all trained
for the same steps at the same batch from the same seed, plus the randomly initialised frozen encoder; each
encoder is pretrained once, then measured with the same frozen-encoder protocol (evaluation.seed_protocol,
probes over 3 seeds). Results go to reports/experiments/seed-table/ (results.json, table.md, plots).

    from evaluation.seed_table import run_seed_table
    results = run_seed_table("tiny", data_dir=None, pediatric_dir=None)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evaluation.config import EvaluationConfig
from evaluation.seed_protocol import PEDIATRIC_FOLDS, Dataset, Progress, measure
from model.config import PretrainConfig, ProbeConfig, load_config, token_time_steps
from model.data import manifest_path

METHODS = ("jepa", "videomae", "supervised", "random_init")
PRETRAINED = ("jepa", "videomae", "supervised")


@dataclass(frozen=True)
class Budget:
    """How big the encoders and runs are; the same for every method of one table."""

    name: str
    overrides: dict = field(default_factory=dict)  # params.yaml model sections, dotted
    probe: dict = field(default_factory=dict)  # ProbeConfig fields
    clips_per_video: int = 3


BUDGETS = {
    # params.yaml's tiny CPU preset as it is: 300 steps at batch 8, under 30 minutes on 2 cores in all
    "tiny": Budget("tiny"),
    # one GPU (H100 / H200 class): EchoJEPA-L's encoder (ViT-L/16) at 16×112² (EchoNet's resolution),
    # 30k steps at batch 64, bf16 — about 1.4 EFLOP for JEPA, ~1 h at 40 % MFU, less for the others;
    # the paper's probe (depth 4, 16 heads, 20 epochs)
    "gpu": Budget(
        "gpu",
        overrides={
            "model.preset": "large",
            "model.predictor_width": 384,
            "model.predictor_depth": 6,
            "model.predictor_heads": 12,
            "model.decoder_width": 384,
            "model.decoder_depth": 4,
            "data.batch_size": 64,
            "data.workers": 8,
            "data.frame_step": 2,
            "optimization.steps": 30000,
            "optimization.warmup": 1500,
            "optimization.lr": 3e-4,
            "optimization.checkpoint_every": 1000,
            "optimization.ema": [0.998, 1.0],
            "trainer.accelerator": "gpu",
            "trainer.precision": "bf16-mixed",
        },
        probe={"depth": 4, "heads": 16, "epochs": 20},
        clips_per_video=4,
    ),
}


def datasets(config: PretrainConfig, data_dir: Path | None, pediatric_dir: Path | None):
    """The adult dataset (the pipeline's, validated manifest first, or a folder given by the user) and
    the pediatric one (given, or the pipeline's simulated one when the adult data is the pipeline's)."""

    def own_cache(folder: Path) -> Path:
        digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
        return Path(config.data.cache) / "experiments" / digest / folder.name  # <cache>/<dataset name>

    def checked(folder: Path) -> Path:
        if not (folder / "FileList.csv").is_file() or not (folder / "Videos").is_dir():
            raise ValueError(f"{folder}: not an EchoNet-layout folder (needs FileList.csv and Videos/)")
        return folder

    if data_dir is None:
        folder = Path(config.data.root) / config.data.dataset
        adult = Dataset(
            checked(folder), Path(config.data.cache) / config.data.dataset, manifest_path(config.data)
        )
        named = _params_evaluate().pediatric_dataset
        default_pediatric = Path(config.data.root) / named if named else None
        if pediatric_dir is None and default_pediatric and (default_pediatric / "FileList.csv").is_file():
            pediatric_dir = default_pediatric
    else:
        folder = checked(Path(data_dir))
        adult = Dataset(folder, own_cache(folder), folder / "FileList.csv")
    pediatric = None
    if pediatric_dir is not None:
        folder = checked(Path(pediatric_dir))
        pediatric = Dataset(folder, own_cache(folder), folder / "FileList.csv")
    return adult, pediatric


def _params_evaluate() -> EvaluationConfig:
    """params.yaml's `evaluate:` section (the pipeline's pediatric set)."""
    raw = yaml.safe_load(Path("params.yaml").read_text()) if Path("params.yaml").is_file() else {}
    return EvaluationConfig.model_validate((raw or {}).get("evaluate") or {}, strict=False)


def check_manifest(manifest: Path, supervised: bool) -> None:
    """Fail before any pretraining on a manifest the protocol cannot use, in one line."""
    import pandas as pd

    table = pd.read_csv(manifest)
    missing = [c for c in ("FileName", "EF", "Split") if c not in table]
    if missing:
        raise ValueError(f"{manifest}: missing column(s) {', '.join(missing)} (EchoNet layout needs them)")
    ef = pd.to_numeric(table.EF, errors="coerce")
    split = table.Split.astype(str).str.upper()
    if ef[split.isin(["TRAIN", "VAL"])].notna().sum() < 2 or ef[split == "TEST"].notna().sum() < 1:
        raise ValueError(f"{manifest}: needs ≥ 2 EF-labelled TRAIN/VAL and ≥ 1 TEST studies for the EF probe")
    if supervised and ef[split == "TRAIN"].notna().sum() < 2:
        raise ValueError(f"{manifest}: the supervised baseline needs ≥ 2 EF-labelled TRAIN studies")


def method_config(base: dict, method: str, adult: Dataset) -> PretrainConfig:
    """The run config of one method: the budget's overrides, the method, and the adult data."""
    overrides = dict(base) | {"optimization.method": "jepa" if method == "random_init" else method}
    overrides |= {
        "data.root": str(adult.folder.parent), "data.dataset": adult.folder.name,
        "data.cache": str(adult.cache.parent), "data.validated": str(adult.manifest.parent.parent),
    }  # fmt: skip
    return load_config("params.yaml", overrides)


def run_folder(models_dir: Path, budget: str, method: str, config: PretrainConfig, adult: Dataset) -> Path:
    """One folder per method *and* resolved config and manifest: a changed setting, seed or dataset trains
    afresh instead of resuming (or reusing) another configuration's checkpoint."""
    digest = hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(adult.manifest.read_bytes())
    return Path(models_dir) / f"seed-table-{budget}" / f"{method}-{digest.hexdigest()[:10]}"


def ensure_pretrained(config: PretrainConfig, folder: Path, progress: bool = True) -> tuple[Path, dict]:
    """The method's encoder weights, pretrained once in its own run folder (`run_folder`): reused when the
    run completed (metrics.json is written last, after the weights), resumed from its last checkpoint when
    it was interrupted. JEPA is evaluated through its EMA target encoder, as V-JEPA's evaluations load it
    (`checkpoint_key: target_encoder`)."""
    from model.train import pretrain

    metrics_file = folder / "metrics.json"
    if (folder / "encoder.pt").is_file() and metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
        if metrics.get("steps") == config.optimization.steps:
            return _weights(folder), metrics | {"reused": True}
    metrics = pretrain(config, folder, resume=True, progress=progress)
    return _weights(folder), metrics


def _weights(folder: Path) -> Path:
    target = folder / "target_encoder.pt"
    return target if target.is_file() else folder / "encoder.pt"


def protocol_key(
    encoder: Path | None, config: PretrainConfig, adult: Dataset, pediatric, eval_config, spec
) -> str:
    """What a method's measurements depend on; unchanged -> its cached results are reused."""
    digest = hashlib.sha256()
    digest.update(encoder.read_bytes() if encoder else json.dumps(config.model.model_dump()).encode())
    for dataset in (adult, pediatric):
        if dataset is not None:
            digest.update(dataset.manifest.read_bytes())
    parts = (
        config.data.model_dump(), eval_config.model_dump(), spec.__dict__, config.optimization.seed,
        PEDIATRIC_FOLDS,
    )  # fmt: skip
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def run_seed_table(
    budget: str = "tiny",
    data_dir: Path | None = None,
    pediatric_dir: Path | None = None,
    out_dir: Path = Path("reports/experiments/seed-table"),
    models_dir: Path = Path("models/experiments"),
    methods: tuple[str, ...] = METHODS,
    seeds: tuple[int, ...] = (0, 1, 2),
    overrides: dict | None = None,
    probe_overrides: dict | None = None,
    on_progress: Progress | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict:
    """Pretrain (once) and measure each method; write results.json, table.md and the plots.

    Args:
        overrides: dotted params.yaml overrides applied after the budget's (e.g. optimization.steps),
            the same for every method.
        probe_overrides: ProbeConfig fields applied after the budget's.
    """
    import torch

    from evaluation.seed_report import write_report
    from model.embed import load_encoder

    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; expected one of {', '.join(BUDGETS)}")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; expected some of {', '.join(METHODS)}")
    plan = BUDGETS[budget]
    settings = dict(plan.overrides) | dict(overrides or {})
    base = load_config("params.yaml", settings)
    adult, pediatric = datasets(base, data_dir, pediatric_dir)
    check_manifest(adult.manifest, "supervised" in methods)
    eval_config = EvaluationConfig(
        view_fractions=(0.01, 0.1, 1.0), probe_seeds=seeds, clips_per_video=plan.clips_per_video
    )
    probe = ProbeConfig.model_validate(
        yaml.safe_load(Path("params.yaml").read_text()).get("probe", {})
        | plan.probe
        | dict(probe_overrides or {}),
        strict=False,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"budget": budget, "data": str(adult.folder), "methods": {}}
    results["pediatric_data"] = str(pediatric.folder) if pediatric else None
    for method in methods:
        config = method_config(settings, method, adult)
        spec = probe.spec(time_steps=token_time_steps(config))
        if on_stage:
            on_stage(f"{method}: pretraining" if method in PRETRAINED else f"{method}: no training")
        encoder_path, train = None, {"steps": 0, "seconds": 0.0, "flops_per_step": 0.0}
        if method in PRETRAINED:
            folder = run_folder(models_dir, budget, method, config, adult)
            encoder_path, train = ensure_pretrained(config, folder)
        key = protocol_key(encoder_path, config, adult, pediatric, eval_config, spec)
        cached = out_dir / "methods" / f"{method}.json"
        if cached.is_file() and json.loads(cached.read_text()).get("key") == key:
            measured = json.loads(cached.read_text())["measured"]
        else:
            if on_stage:
                on_stage(f"{method}: frozen-encoder protocol")
            encoder = load_encoder(config, encoder_path)
            if torch.cuda.is_available():  # the gpu budget: embed on the GPU in bf16 (probes follow)
                encoder = encoder.cuda()
            measured = measure(encoder, config, adult, pediatric, eval_config, spec, on_progress=on_progress)
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps({"key": key, "measured": measured}, indent=2) + "\n")
        steps = int(train.get("steps", 0))
        results["methods"][method] = measured | {
            "pretraining": {
                "steps": steps,
                "batch": config.data.batch_size * config.trainer.devices * config.trainer.num_nodes,
                "weights": encoder_path.name if encoder_path else "random init",
                "seconds": train.get("seconds"),
                "reused": bool(train.get("reused")), "final_loss": train.get("final_loss"),
                "total_flops": steps * float(train.get("flops_per_step", 0.0)),
            },
        }  # fmt: skip
    results["overrides"] = settings
    results["config"] = {"model": base.model.model_dump(mode="json"), "probe": spec.__dict__,
                         "evaluate": eval_config.model_dump(mode="json")}  # fmt: skip
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    write_report(results, out_dir)
    return results
