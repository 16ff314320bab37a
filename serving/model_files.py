"""The files of a servable model directory, as `release.package` stores them: encoder.pt, config.yaml (the
pretraining config) and probes/<task>/seed-<n>.pt for the served tasks — every seed of the probe stage's
100 % probes, served as an ensemble (model.probe_artifact), exactly the files the evaluation gated (their
sha256 is in evaluation.json's `probes`). EF is required; a task the data could not support (one view only:
no view probe) is absent by design, and evaluation.json's `tasks` says why.

`write_untrained_model` writes a directory of the same layout with random weights, for speed
measurements at presets that were never trained (benchmarks) and for smoke tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model.config import PretrainConfig, ProbeConfig, token_time_steps
from model.probe_artifact import ProbeArtifact, ProbeEnsemble
from model.probes import build_probe

SERVED_TASKS = ("ef", "view")


class ModelFilesError(ValueError):
    """A model directory that cannot be served (one line naming the missing or bad file)."""


def load_model_config(model_dir: Path) -> PretrainConfig:
    path = Path(model_dir) / "config.yaml"
    if not path.is_file():
        raise ModelFilesError(f"{path}: missing; the model directory holds no pretraining config")
    return PretrainConfig.from_file(path)


def load_heads(model_dir: Path) -> dict[str, ProbeEnsemble]:
    """The ensembles a model directory has (EF required; ModelFilesError naming what is wrong)."""
    heads = {}
    for task in SERVED_TASKS:
        folder = Path(model_dir) / "probes" / task
        if task != "ef" and not folder.exists():
            continue  # not fitted on this data (e.g. one view): served without it
        try:
            heads[task] = ProbeEnsemble.load_dir(folder)
        except ValueError as exc:
            raise ModelFilesError(
                f"{exc}; the probe stage (`echojepa probe`) writes the served probes"
            ) from None
    return heads


def missing_head_reasons(model_dir: Path, heads: dict) -> dict[str, str]:
    """{task: why the model has no probe for it}, from its packaged evaluation.json (`tasks`)."""
    path = Path(model_dir) / "evaluation.json"
    tasks = json.loads(path.read_text()).get("tasks", {}) if path.is_file() else {}
    reasons = {}
    for task in SERVED_TASKS:
        if task not in heads:
            recorded = (tasks.get(task) or {}).get("reason")
            reasons[task] = f"this model has no {task} probe: {recorded or 'none was fitted on its data'}"
    return reasons


def write_untrained_model(
    out_dir: Path, config: PretrainConfig, probe: ProbeConfig, views: tuple[str, ...]
) -> Path:
    """A model directory with randomly initialised encoder and probes (same layout and shapes as a trained
    one, one seed per task): encoder.pt, config.yaml, probes/ef/seed-0.pt, probes/view/seed-0.pt."""
    from model.embed import load_encoder

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    encoder = load_encoder(config, None)
    torch.save(encoder.state_dict(), out / "encoder.pt")
    config.write(out / "config.yaml")
    spec = probe.spec(time_steps=token_time_steps(config))  # as the probe stage trains
    for task, classes in (("ef", ()), ("view", tuple(views))):
        module = build_probe(spec, encoder.width, max(1, len(classes)))
        stats = {"target_mean": 55.0, "target_std": 12.0} if task == "ef" else {"class_names": classes}
        artifact = ProbeArtifact.from_module(
            task, module, spec, encoder.width, seed=0, train_examples=0, **stats
        )
        artifact.save(out / "probes" / task / "seed-0.pt")
    return out
