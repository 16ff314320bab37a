"""Every path a pipeline run reads or writes, named once and derived from the config.

Before this type the run folder `models/{method}-{preset}` was computed in five places and the demo
hard-coded it; the evaluation found its probes by globbing reports/. Now each stage, the flows, the demo,
packaging and monitoring ask a `RunLayout` (`Params.layout()`), and dvc.yaml's outs are checked against it
by a test (tests/config/test_layout.py), so the DAG and the code cannot drift apart.

    layout = load_params().layout()
    layout.run_dir            # models/jepa-tiny
    layout.data.manifest      # data/validated/synthetic/FileList.csv once validate ran
    layout.probe_file("ef", 0), layout.evaluation, layout.monitoring_reference
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ultrasound.echonet import FILE_LIST

if TYPE_CHECKING:
    from config.params import Params
    from model.config import DataConfig

MODELS = Path("models")
REPORTS = Path("reports")
EMBEDDINGS = Path("data/embeddings")


@dataclass(frozen=True)
class DataLayout:
    """Where a dataset, its validated manifest and its clip cache live (params.yaml `data:`)."""

    dataset: str
    raw_root: Path
    validated_root: Path
    cache_root: Path

    @classmethod
    def from_data(cls, data: DataConfig) -> DataLayout:
        return cls(data.dataset, Path(data.root), Path(data.validated), Path(data.cache))

    @property
    def dataset_dir(self) -> Path:
        """data/raw/<dataset>: the EchoNet-layout folder the pipeline reads."""
        return self.raw_root / self.dataset

    @property
    def validated_dir(self) -> Path:
        """data/validated/<dataset>: the validate stage's accepted manifest, quarantine, facts."""
        return self.validated_root / self.dataset

    @property
    def manifest(self) -> Path:
        """The manifest a run reads: the validated one when validate has written it, else the raw one."""
        validated = self.validated_dir / FILE_LIST
        return validated if validated.is_file() else self.dataset_dir / FILE_LIST

    @property
    def facts(self) -> Path:
        """The per-video facts (quality metrics) the validate stage measured."""
        return self.validated_dir / "facts.csv"

    @property
    def validation_reports(self) -> Path:
        return REPORTS / "validation" / self.dataset

    @property
    def cache_dir(self) -> Path:
        """data/cache/<dataset>: the uint8 clip cache."""
        return self.cache_root / self.dataset

    def cache_of(self, dataset: str) -> Path:
        return self.cache_root / dataset


@dataclass(frozen=True)
class RunLayout:
    """The paths of one configuration's pipeline run, relative to the repository root."""

    data: DataLayout
    method: str
    preset: str
    ledger: Path
    features_root: Path
    production_log: Path
    pediatric_dataset: str | None

    @classmethod
    def from_params(cls, params: Params) -> RunLayout:
        return cls(
            data=DataLayout.from_data(params.data), method=params.optimization.method,
            preset=params.model.preset, ledger=Path(params.release.ledger),
            features_root=Path(params.features.root), production_log=Path(params.serving.production_log),
            pediatric_dataset=params.evaluate.pediatric_dataset,
        )  # fmt: skip

    @property
    def production_clips(self) -> Path:
        """De-identified production clips kept when serving.retain_clips is on (pretraining material)."""
        return self.production_log / "clips"

    @property
    def pediatric_dir(self) -> Path | None:
        """The pediatric zero-shot set (evaluate.pediatric_dataset), or None when none is configured."""
        return None if self.pediatric_dataset is None else self.data.raw_root / self.pediatric_dataset

    # ------------------------------------------------------------------ the run
    @property
    def run_name(self) -> str:
        return f"{self.method}-{self.preset}"

    @property
    def run_dir(self) -> Path:
        """models/<method>-<preset>: encoder, checkpoints, probes, monitoring reference."""
        return MODELS / self.run_name

    @property
    def encoder(self) -> Path:
        return self.run_dir / "encoder.pt"

    @property
    def target_encoder(self) -> Path:
        return self.run_dir / "target_encoder.pt"

    @property
    def model_config(self) -> Path:
        """The pretraining config of the run (the model sections; serving rebuilds the encoder from it)."""
        return self.run_dir / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def pretrain_metrics(self) -> Path:
        return self.run_dir / "metrics.json"

    @property
    def loss_curve(self) -> Path:
        return self.run_dir / "loss.csv"

    @property
    def embeddings_dir(self) -> Path:
        """data/embeddings/<run>: the candidate's token cache."""
        return EMBEDDINGS / self.run_name

    @property
    def baseline_embeddings_dir(self) -> Path:
        """data/embeddings/random-init-<preset>: the same-run baseline's tokens and probe results."""
        return EMBEDDINGS / f"random-init-{self.preset}"

    @property
    def probes_dir(self) -> Path:
        """models/<run>/probes: the served probes, one file per task and seed (<task>/seed-<n>.pt)."""
        return self.run_dir / "probes"

    def probe_file(self, task: str, seed: int) -> Path:
        return self.probes_dir / task / f"seed-{seed}.pt"

    @property
    def probe_frame(self) -> Path:
        """The training frame the probes were fitted on (Feast point-in-time labels, row per token row)."""
        return self.probes_dir / "frame.csv"

    @property
    def monitoring_reference(self) -> Path:
        """models/<run>/reference.parquet: written by evaluate, packaged with the model."""
        return self.run_dir / "reference.parquet"

    # ------------------------------------------------------------------ reports
    @property
    def probe_metrics(self) -> Path:
        return REPORTS / "probes" / "metrics.json"

    def probe_predictions(self, task: str) -> Path:
        return REPORTS / "probes" / f"metrics_predictions_{task}.csv"

    @property
    def evaluation(self) -> Path:
        return REPORTS / "evaluation.json"

    @property
    def model_card(self) -> Path:
        return REPORTS / "model_card.html"

    @property
    def reports_dir(self) -> Path:
        return REPORTS

    # ------------------------------------------------------------------ research experiments
    @property
    def experiment_runs(self) -> Path:
        """models/experiments: research experiments' own run folders, apart from the pipeline's run."""
        return MODELS / "experiments"

    @property
    def experiment_reports(self) -> Path:
        """reports/experiments: one report folder per experiment (seed-table/)."""
        return REPORTS / "experiments"
