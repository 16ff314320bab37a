"""Typed, frozen, validated configs for the model sections of params.yaml; an unknown key names itself."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(Section):
    """Which data and how clips are cut from it."""

    dataset: str = "synthetic"
    root: str = "data/raw"
    validated: str = "data/validated"  # the validate stage's accepted manifest, read when present
    cache: str = "data/cache"
    frames: int = Field(16, gt=0)  # frames per clip
    frame_step: int = Field(4, gt=0)  # 16 × 4 frames at 50 fps span 1.3 s: at least one beat above 46 bpm
    resolution: int = Field(112, gt=0)
    batch_size: int = Field(8, gt=0)
    workers: int = Field(0, ge=0)


class AugmentConfig(Section):
    """EchoJEPA's echo augmentations: random resized crop only."""

    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_aspect: tuple[float, float] = (0.9, 1.1)


class ModelConfig(Section):
    preset: Literal["tiny", "vit_tiny", "small", "base", "large"] = "tiny"
    patch_size: int = 16
    tubelet: int = 2
    predictor_width: int = 48
    predictor_depth: int = 2
    predictor_heads: int = 4
    decoder_width: int = 96  # VideoMAE decoder
    decoder_depth: int = 2


class MaskConfig(Section):
    """V-JEPA's two generators (blocks, spatial scale) and VideoMAE's tube ratio."""

    short_blocks: int = 8
    short_scale: float = 0.15
    long_blocks: int = 2
    long_scale: float = 0.7
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    tube_ratio: float = 0.9


class OptimConfig(Section):
    method: Literal["jepa", "videomae", "supervised"] = "jepa"  # supervised: the from-scratch baseline
    steps: int = Field(300, gt=0)
    lr: float = 1e-3
    start_lr: float = 1e-5
    final_lr: float = 1e-5
    warmup: int = 30
    weight_decay: tuple[float, float] = (0.04, 0.4)
    ema: tuple[float, float] = (0.99, 1.0)
    grad_clip: float = 10.0
    seed: int = 0
    checkpoint_every: int = Field(100, gt=0)

    @model_validator(mode="after")
    def _warmup_fits(self) -> OptimConfig:
        if self.warmup >= self.steps:
            raise ValueError(
                f"optimization.warmup ({self.warmup}) must be below optimization.steps ({self.steps})"
            )
        return self


class TrainerConfig(Section):
    """Lightning placement: CPU by default; `ddp` / `fsdp` for many GPUs or nodes."""

    accelerator: Literal["cpu", "gpu", "auto"] = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp", "fsdp", "ddp_spawn"] = "auto"
    precision: Literal["32-true", "bf16-mixed"] = "32-true"


class PretrainConfig(Section):
    data: DataConfig = DataConfig()
    data_aug: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    mask: MaskConfig = MaskConfig()
    optimization: OptimConfig = OptimConfig()
    trainer: TrainerConfig = TrainerConfig()


def token_time_steps(config: PretrainConfig) -> int:
    """Time steps of the encoder's token grid: frames per clip over the tubelet depth."""
    return config.data.frames // config.model.tubelet


def load_config(path: str | Path = "params.yaml", overrides: dict | None = None) -> PretrainConfig:
    """Read the model sections of params.yaml (others are ignored) and apply dotted overrides.

    Raises:
        ValueError: one line naming the offending key, e.g. "params.yaml: optimization.lrr: unknown key".
    """
    raw = yaml.safe_load(Path(path).read_text()) if Path(path).exists() else {}
    sections = {k: v for k, v in (raw or {}).items() if k in PretrainConfig.model_fields}
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        sections.setdefault(section, {})[key] = value
    try:
        return PretrainConfig.model_validate(_tuples(sections), strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ValueError(f"{path}: {where}: {reason}") from None


def _tuples(value):
    """YAML lists become tuples (the frozen configs hold tuples)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(value)
    return value


class ProbeConfig(Section):
    """params.yaml `probe:`: the frozen-encoder probe protocol (V-JEPA's attentive probe)."""

    kind: Literal["attentive", "linear"] = "attentive"
    depth: int = Field(1, ge=1)  # self-attention blocks before the cross-attention pooling, plus one
    heads: int = Field(4, ge=1)
    epochs: int = Field(20, gt=0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(32, gt=0)
    tasks: tuple[Literal["ef", "view"], ...] = ("ef", "view")
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    # the attentive probe also sees each token's deviation from its temporal mean (model.probes.
    # temporal_contrast); false = V-JEPA 2's probe exactly
    temporal_contrast: bool = True

    def spec(self, kind: str | None = None, time_steps: int = 0):
        """The ProbeSpec that model.probes trains with; `time_steps` = the encoder's token time steps
        (data.frames // model.tubelet), used when temporal_contrast is on."""
        from model.probes import ProbeSpec

        fields = ("depth", "heads", "epochs", "lr", "weight_decay", "batch_size")
        steps = time_steps if self.temporal_contrast else 0
        return ProbeSpec(kind=kind or self.kind, time_steps=steps, **{f: getattr(self, f) for f in fields})
