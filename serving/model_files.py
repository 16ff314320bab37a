"""The files of a servable model directory, as `release.package` stores them: encoder.pt, config.yaml (the
pretraining config) and probes/<task>.pt for the served tasks `ef` and `view` (written by
`model.probe_eval.save_probes`: state_dict, target stats, class names, probe spec, token width).

`write_untrained_model` writes a directory of the same layout with random weights, for speed
measurements at presets that were never trained (benchmarks) and for smoke tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import nn

from model.config import PretrainConfig, load_config
from model.probes import ProbeSpec, build_probe

SERVED_TASKS = ("ef", "view")


@dataclass(frozen=True)
class Head:
    """One served probe: the module, its target statistics and (view) its class names."""

    task: str
    module: nn.Module
    stats: dict
    classes: tuple[str, ...]


class ModelFilesError(ValueError):
    """A model directory that cannot be served (one line naming the missing or bad file)."""


def load_model_config(model_dir: Path) -> PretrainConfig:
    path = Path(model_dir) / "config.yaml"
    if not path.is_file():
        raise ModelFilesError(f"{path}: missing; the model directory holds no pretraining config")
    return load_config(path)


def load_head(path: Path) -> Head:
    """A probe saved by `save_probes`, rebuilt from its spec and width, in eval mode."""
    if not path.is_file():
        raise ModelFilesError(
            f"{path}: missing; fit the served probes with `echojepa probe EMBEDDINGS --save-probes-to "
            f"{path.parent}` before packaging"
        )
    item = torch.load(path, map_location="cpu", weights_only=True)
    spec = ProbeSpec(**item["spec"])
    stats = dict(item["stats"])
    module = build_probe(spec, int(item["width"]), int(stats.get("classes", 1)))
    module.load_state_dict(item["state_dict"])
    return Head(path.stem, module.eval(), stats, tuple(item.get("classes") or ()))


def load_heads(model_dir: Path) -> dict[str, Head]:
    """The EF and view heads of a model directory."""
    heads = {task: load_head(Path(model_dir) / "probes" / f"{task}.pt") for task in SERVED_TASKS}
    if len(heads["view"].classes) < 2:
        raise ModelFilesError(f"{model_dir}/probes/view.pt: a view probe needs two or more class names")
    return heads


def write_untrained_model(
    out_dir: Path,
    config: PretrainConfig,
    views: tuple[str, ...] = ("A4C", "A2C", "PLAX", "PSAX", "SUBCOSTAL"),
) -> Path:
    """A model directory with randomly initialised encoder and probes (same layout and shapes as a trained
    one): encoder.pt, config.yaml, probes/ef.pt, probes/view.pt."""
    from model.embed import load_encoder

    out = Path(out_dir)
    (out / "probes").mkdir(parents=True, exist_ok=True)
    encoder = load_encoder(config, None)
    torch.save(encoder.state_dict(), out / "encoder.pt")
    (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    spec = ProbeSpec(time_steps=config.data.frames // config.model.tubelet)  # as `echojepa probe` trains
    for task, classes, stats in (
        ("ef", [], {"mean": 55.0, "std": 12.0}),
        ("view", list(views), {"classes": len(views)}),
    ):
        probe = build_probe(spec, encoder.width, int(stats.get("classes", 1)))
        item = {
            "state_dict": probe.state_dict(), "stats": stats, "classes": classes, "spec": spec.__dict__,
            "width": encoder.width,
        }  # fmt: skip
        torch.save(item, out / "probes" / f"{task}.pt")
    return out
