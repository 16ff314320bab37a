"""Typed, frozen, validated configs of the model sections of params.yaml (data, data_aug, model, mask,
optimization, trainer, probe). No field has a default: params.yaml holds them (config.params loads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(Section):
    """Which data and how clips are cut from it."""

    dataset: str
    root: str
    validated: str  # the validate stage's accepted manifest, read when present
    cache: str
    frames: int = Field(gt=0)  # frames per clip
    frame_step: int = Field(gt=0)  # 16 × 4 frames at 50 fps span 1.3 s: at least one beat above 46 bpm
    resolution: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    workers: int = Field(ge=0)


class AugmentConfig(Section):
    """EchoJEPA's echo augmentations: random resized crop only."""

    crop_scale: tuple[float, float]
    crop_aspect: tuple[float, float]


class ModelConfig(Section):
    preset: Literal["tiny", "vit_tiny", "small", "base", "large"]
    patch_size: int
    tubelet: int
    predictor_width: int
    predictor_depth: int
    predictor_heads: int
    decoder_width: int  # VideoMAE decoder
    decoder_depth: int


class MaskConfig(Section):
    """V-JEPA's two generators (blocks, spatial scale) and VideoMAE's tube ratio."""

    short_blocks: int
    short_scale: float
    long_blocks: int
    long_scale: float
    aspect_ratio: tuple[float, float]
    tube_ratio: float


class OptimConfig(Section):
    method: Literal["jepa", "videomae", "supervised"]  # supervised: the from-scratch baseline
    steps: int = Field(gt=0)
    lr: float
    start_lr: float
    final_lr: float
    warmup: int
    weight_decay: tuple[float, float]
    ema: tuple[float, float]
    grad_clip: float
    seed: int
    checkpoint_every: int = Field(gt=0)

    @model_validator(mode="after")
    def _warmup_fits(self) -> OptimConfig:
        if self.warmup >= self.steps:
            raise ValueError(
                f"optimization.warmup ({self.warmup}) must be below optimization.steps ({self.steps})"
            )
        return self


class TrainerConfig(Section):
    """Lightning placement: CPU by default; `ddp` / `fsdp` for many GPUs or nodes."""

    accelerator: Literal["cpu", "gpu", "auto"]
    devices: int
    num_nodes: int
    strategy: Literal["auto", "ddp", "fsdp", "ddp_spawn"]
    precision: Literal["32-true", "bf16-mixed"]


class PretrainConfig(Section):
    """The model sections of params.yaml: what pretraining, embedding and serving rebuild an encoder from
    (a run's config.yaml holds exactly this)."""

    data: DataConfig
    data_aug: AugmentConfig
    model: ModelConfig
    mask: MaskConfig
    optimization: OptimConfig
    trainer: TrainerConfig

    @classmethod
    def from_file(cls, path: str | Path) -> PretrainConfig:
        """A run's config.yaml (ConfigError naming the bad key, like params.yaml)."""
        from config.params import load_model

        return load_model(cls, path)

    def write(self, path: str | Path) -> Path:
        """Write this config as a run's config.yaml."""
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        return Path(path)


def token_time_steps(config: PretrainConfig) -> int:
    """Time steps of the encoder's token grid: frames per clip over the tubelet depth."""
    return config.data.frames // config.model.tubelet


class ProbeConfig(Section):
    """params.yaml `probe:`: the frozen-encoder probe protocol (V-JEPA's attentive probe)."""

    kind: Literal["attentive", "linear"]
    depth: int = Field(ge=1)  # self-attention blocks before the cross-attention pooling, plus one
    heads: int = Field(ge=1)
    epochs: int = Field(gt=0)
    lr: float = Field(gt=0)  # the one head's settings when there is no grid (lr_grid / wd_grid empty)
    weight_decay: float = Field(ge=0)
    # V-JEPA 2's probe selection: one head per (lr, weight_decay) of lr_grid × wd_grid, trained in one pass
    # over the same batches on TRAIN, the best on VAL kept (model.probes.fit_probe_heads). Empty (a config
    # older than the grid) or one head in all: lr / weight_decay alone, fitted on TRAIN+VAL, no selection.
    # The only fields with a default, so that such configs still load unchanged.
    lr_grid: tuple[float, ...] = ()
    wd_grid: tuple[float, ...] = ()
    batch_size: int = Field(gt=0)
    tasks: tuple[Literal["ef", "view"], ...]
    fractions: tuple[float, ...]  # label fractions of the training rows (stratified, seeded, ≥ 2 per class)
    seeds: tuple[int, ...]  # one probe per seed at each fraction; all seeds at 1.0 are served as an ensemble
    clips_per_video: int = Field(gt=0)  # evenly spaced clips per video whose outputs are averaged (embed,
    # evaluate and serving alike, so the served model predicts as it was evaluated)
    # the attentive probe also sees each token's deviation from its temporal mean (model.probes.
    # temporal_contrast); false = V-JEPA 2's probe exactly
    temporal_contrast: bool

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, fractions: tuple[float, ...]) -> tuple[float, ...]:
        if not fractions or any(not 0 < f <= 1 for f in fractions) or 1.0 not in fractions:
            raise ValueError("fractions must lie in (0, 1] and include 1.0 (the served, gated probes)")
        return tuple(sorted(fractions))

    @field_validator("lr_grid", "wd_grid")
    @classmethod
    def _grid(cls, values: tuple[float, ...], info) -> tuple[float, ...]:
        low_ok = (lambda v: v > 0) if info.field_name == "lr_grid" else (lambda v: v >= 0)
        if any(not low_ok(v) for v in values) or len(set(values)) != len(values):
            raise ValueError("grid values must be distinct, lr > 0 and weight_decay >= 0")
        return values

    @field_validator("seeds", "tasks")
    @classmethod
    def _not_empty(cls, values: tuple) -> tuple:
        if not values:
            raise ValueError("must not be empty")
        return values

    def grid(self) -> tuple[tuple[float, float], ...]:
        """The probe heads' (lr, weight_decay), lr-major: lr_grid × wd_grid, each grid defaulting to the
        single lr / weight_decay."""
        lrs, wds = self.lr_grid or (self.lr,), self.wd_grid or (self.weight_decay,)
        return tuple((lr, wd) for lr in lrs for wd in wds)

    @property
    def selects_on_val(self) -> bool:
        """More than one head: TRAIN fits, VAL selects. One head: TRAIN+VAL fits (nothing to select)."""
        return len(self.grid()) > 1

    def spec(self, kind: str | None = None, time_steps: int = 0):
        """The ProbeSpec that model.probes trains with; `time_steps` = the encoder's token time steps
        (data.frames // model.tubelet), used when temporal_contrast is on."""
        from model.probes import ProbeSpec

        fields = ("depth", "heads", "epochs", "lr", "weight_decay", "batch_size")
        steps = time_steps if self.temporal_contrast else 0
        return ProbeSpec(kind=kind or self.kind, time_steps=steps, **{f: getattr(self, f) for f in fields})
