"""The one typed root of params.yaml and its one loader.

Every package owns the frozen, `extra="forbid"` model of its own section (model.config, evaluation.config,
serving.config, ...); `Params` composes them, and `load_params` is the only code that reads params.yaml.
Defaults live in params.yaml and nowhere else: the section models have no field defaults, so a key missing
from the file is an error that names it, exactly like an unknown one:

    params = load_params("params.yaml", ["optimization.steps=100"])   # --set overrides, YAML values
    params.optimization.steps, params.layout().run_dir

Every error is one line, `<file>: <section>.<key>: <why>`, whether the key came from the file or from
`--set` (the CLI prints it as `echojepa: error: ...`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config import PARAMS_FILE
from data_contracts.config import ContractConfig
from evaluation.config import EvaluationConfig, GatesConfig
from features.config import FeatureConfig
from ingest.config import IngestConfig
from model.config import (
    AugmentConfig,
    DataConfig,
    MaskConfig,
    ModelConfig,
    OptimConfig,
    PretrainConfig,
    ProbeConfig,
    TrainerConfig,
)
from monitoring.config import MonitoringConfig
from release.config import ReleaseConfig
from serving.config import ServingConfig
from ultrasound.config import SimulateConfig

if TYPE_CHECKING:
    from config.layout import RunLayout

RESOLVED_FILE = "params.resolved.yaml"  # what a run writes beside its outputs


class ConfigError(ValueError):
    """A params file (or an override) that does not validate; the message is one line naming the key."""


class Params(BaseModel):
    """Every section of params.yaml, each validated by its package's model."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    data: DataConfig
    data_aug: AugmentConfig
    model: ModelConfig
    mask: MaskConfig
    optimization: OptimConfig
    trainer: TrainerConfig
    simulate: SimulateConfig
    probe: ProbeConfig
    features: FeatureConfig
    ingest: IngestConfig
    # `validate` is the YAML key; the attribute is `validation` (BaseModel has a `validate` method)
    validation: ContractConfig = Field(alias="validate")
    release: ReleaseConfig
    evaluate: EvaluationConfig
    gates: GatesConfig
    serving: ServingConfig
    monitoring: MonitoringConfig

    @property
    def pretrain(self) -> PretrainConfig:
        """The model sections as the training code takes them (and a run's config.yaml holds)."""
        return PretrainConfig(
            data=self.data, data_aug=self.data_aug, model=self.model, mask=self.mask,
            optimization=self.optimization, trainer=self.trainer,
        )  # fmt: skip

    def layout(self) -> RunLayout:
        """Every path this configuration's pipeline reads and writes (config.layout)."""
        from config.layout import RunLayout

        return RunLayout.from_params(self)

    def with_overrides(self, overrides: Mapping[str, Any] | Iterable[str]) -> Params:
        """A copy with dotted overrides applied and validated again (same errors as the loader)."""
        raw = self.model_dump(mode="json", by_alias=True)
        return _validate(Params, _apply(raw, overrides), "params")

    def write_resolved(self, folder: str | Path) -> Path:
        """The resolved configuration of a run, written beside its outputs (`params.resolved.yaml`)."""
        path = Path(folder) / RESOLVED_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.model_dump(mode="json", by_alias=True), sort_keys=False))
        return path


def load_params(path: str | Path = PARAMS_FILE, overrides: Mapping[str, Any] | Iterable[str] = ()) -> Params:
    """params.yaml (or another file of the same shape) with `--set` style overrides applied.

    Args:
        path: the parameter file.
        overrides: `section.key=value` strings (values read as YAML) or a {dotted key: value} mapping.
    Raises:
        ConfigError: one line, e.g. "params.yaml: optimization.lrr: unknown key".
    """
    return _validate(Params, _apply(read_yaml(path), overrides), str(path))


def load_model(model: type[BaseModel], path: str | Path, overrides: Mapping[str, Any] | Iterable[str] = ()):
    """Another file validated by a section-shaped model with the same loader and errors (a run's
    config.yaml is a PretrainConfig)."""
    return _validate(model, _apply(read_yaml(path), overrides), str(path))


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from a file; ConfigError (one line) when absent, unreadable or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such parameter file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def parse_overrides(pairs: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """`section.key=value` strings (values read as YAML: numbers, lists, booleans) or a mapping -> a
    {dotted key: value} dict."""
    if isinstance(pairs, Mapping):
        return dict(pairs)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"--set {pair!r}: expected section.key=value, e.g. optimization.steps=100")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {pair!r}: the value is not valid YAML") from None
    return out


def _apply(raw: dict, overrides: Mapping[str, Any] | Iterable[str]) -> dict:
    """`raw` with each dotted override set (at any depth: gates.no_regression_tolerance.ef_mae=1)."""
    raw = copy.deepcopy(raw)
    for dotted, value in parse_overrides(overrides).items():
        *parents, leaf = dotted.split(".")
        node = raw
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {} if child is None else child
            if not isinstance(child, dict):
                raise ConfigError(f"--set {dotted}: {part} is not a section")
            node = child
        node[leaf] = value
    return raw


def _validate(model: type[BaseModel], raw: dict, source: str):
    try:
        return model.model_validate(raw, strict=False)
    except ValidationError as exc:
        raise ConfigError(describe(exc, source)) from None


def describe(exc: ValidationError, source: str) -> str:
    """The first validation error as `<source>: <section.key>: <why>` (the one formatter of the platform)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        reason = "unknown key"
    elif kind == "missing":
        reason = "missing (params.yaml holds every default)"
    else:
        reason = first["msg"].removeprefix("Value error, ")
    return f"{source}: {where}: {reason}"
