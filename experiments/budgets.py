"""What one seed table runs: its budget (the same encoder size, steps and probe for every method), the
datasets it reads (as data layouts), and each method's parameters (the budget's overrides, the method, and
the adult data), all through config.params: no method gets a setting another does not."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from config.layout import DataLayout
from config.params import Params
from ultrasound.echonet import FILE_LIST, VIDEOS, is_dataset

METHODS = ("jepa", "videomae", "supervised", "random_init")
PRETRAINED = ("jepa", "videomae", "supervised")


@dataclass(frozen=True)
class Budget:
    """How big the encoders, runs and probes are: dotted params.yaml overrides for every section (model,
    optimization, trainer, probe, ...), the same for every method of one table."""

    name: str
    overrides: dict = field(default_factory=dict)


BUDGETS = {
    # params.yaml's tiny CPU preset as it is: 300 steps at batch 8, under 30 minutes on 2 cores in all
    "tiny": Budget("tiny"),
    # one GPU (H100 / H200 class): EchoJEPA-L's encoder (ViT-L/16) at 16×112² (EchoNet's resolution),
    # 30k steps at batch 64, bf16 — about 1.4 EFLOP for JEPA, ~1 h at 40 % MFU, less for the others;
    # the paper's probe (depth 4, 16 heads, 20 epochs, a 3 lr × 3 wd grid selected on VAL) over 4 clips
    # per video
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
            "probe.depth": 4,
            "probe.heads": 16,
            # V-JEPA 2's probe selection at GPU scale: 9 heads in one pass (its own sweep is larger still)
            "probe.lr_grid": [0.005, 0.001, 0.0003],
            "probe.wd_grid": [0.01, 0.1, 0.4],
            "probe.epochs": 20,
            "probe.clips_per_video": 4,
        },
    ),
}


def budget_of(name: str) -> Budget:
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; expected one of {', '.join(BUDGETS)}")
    return BUDGETS[name]


def check_methods(methods: tuple[str, ...]) -> None:
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; expected some of {', '.join(METHODS)}")


def folder_layout(folder: Path, cache_root: Path) -> DataLayout:
    """An EchoNet-layout folder as a data layout whose manifest is the folder's own FileList.csv."""
    folder = Path(folder)
    return DataLayout(folder.name, folder.parent, folder.parent, Path(cache_root))


def datasets(
    params: Params, data_dir: Path | None, pediatric_dir: Path | None
) -> tuple[DataLayout, DataLayout | None]:
    """The adult dataset (the pipeline's, validated manifest first, or a folder given by the user) and the
    pediatric one (given, or the pipeline's `evaluate.pediatric_dataset` when the adult data is the
    pipeline's). A folder given by the user gets its own clip cache, keyed by its absolute path."""
    layout = params.layout()

    def own(folder: Path) -> DataLayout:
        if not is_dataset(folder):
            raise ValueError(f"{folder}: not an EchoNet-layout folder (needs {FILE_LIST} and {VIDEOS}/)")
        digest = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:10]
        return folder_layout(folder, layout.data.cache_root / "experiments" / digest)

    if data_dir is None:
        adult = layout.data
        if not is_dataset(adult.dataset_dir):
            raise ValueError(f"{adult.dataset_dir}: not an EchoNet-layout folder (needs {FILE_LIST} and "
                             f"{VIDEOS}/); run the simulate stage or pass --data")  # fmt: skip
        named = layout.pediatric_dir
        if pediatric_dir is None and named is not None and (named / FILE_LIST).is_file():
            return adult, folder_layout(named, layout.data.cache_root)  # the evaluation's cache of it
    else:
        adult = own(Path(data_dir))
    return adult, own(Path(pediatric_dir)) if pediatric_dir is not None else None


def check_manifest(manifest: Path, supervised: bool) -> None:
    """Fail before any pretraining on a manifest the protocol cannot use, in one line."""
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


def method_params(base: Params, method: str, adult: DataLayout) -> Params:
    """One method's parameters: the table's (budget + --set), the method, and the adult data. The
    random-init encoder is the JEPA architecture at the same seed, never trained."""
    return base.with_overrides({
        "optimization.method": "jepa" if method == "random_init" else method,
        "data.root": str(adult.raw_root), "data.dataset": adult.dataset,
        "data.validated": str(adult.validated_root), "data.cache": str(adult.cache_root),
    })  # fmt: skip
