"""A fitted probe as a file: the one type that saves and loads probes, and the one place that turns a probe's
raw outputs into EF in percent or view probabilities.

Before it, the probe `.pt` dict was written in two places with two meanings of `classes` (a class count in
the target statistics, class names beside them) and serving denormalised EF itself. A `ProbeArtifact` holds
weights, its spec, the token width, the target normalisation (regression) or the class names
(classification), the seed, how many examples it saw and, when it was selected among a grid of heads on
VAL, that selection; `outputs` is the only denormalisation.

    artifact = ProbeArtifact.load("models/jepa-tiny/probes/ef/seed-0.pt")
    ef = artifact.predict(tokens)             # tokens [V, C, N, D] -> EF [V], clip-averaged
    ensemble = ProbeEnsemble.load_dir("models/jepa-tiny/probes/ef")   # every seed, served together
"""

from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.probes import ProbeSpec, build_probe, predict_raw

TASK_KINDS = {"ef": "regression", "view": "classification"}
FORMAT = 2  # version of the file layout below


@dataclass(frozen=True)
class ProbeArtifact:
    """One fitted probe of one task and seed."""

    task: str  # "ef" (regression, EF in %) or "view" (classification)
    spec: ProbeSpec
    width: int  # token width D the probe reads
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    seed: int
    train_examples: int
    target_mean: float | None = None  # regression: the z-score of the training targets
    target_std: float | None = None
    class_names: tuple[str, ...] = ()  # classification: output index -> class name
    # V-JEPA 2's probe selection, when the head was chosen among a grid on VAL (evaluation.probe_protocol):
    # {metric, value, lr, weight_decay, val_examples, heads: [{lr, weight_decay, value}]}; None: one head
    # (its lr and weight decay are the spec's either way)
    selection: dict | None = field(default=None, compare=False)
    sha256: str | None = field(default=None, compare=False)  # of the file it was loaded from

    def __post_init__(self) -> None:
        if self.task not in TASK_KINDS:
            raise ValueError(f"unknown probe task {self.task!r}; expected one of {', '.join(TASK_KINDS)}")
        if self.kind == "regression" and (self.target_mean is None or not self.target_std):
            raise ValueError(f"{self.task} probe: a regression probe needs its target mean and std")
        if self.kind == "classification" and len(self.class_names) < 2:
            raise ValueError(f"{self.task} probe: a classifier needs two or more class names")

    @property
    def kind(self) -> str:
        return TASK_KINDS[self.task]

    @property
    def n_outputs(self) -> int:
        return 1 if self.kind == "regression" else len(self.class_names)

    @classmethod
    def from_module(
        cls, task: str, module: nn.Module, spec: ProbeSpec, width: int, **fields
    ) -> ProbeArtifact:
        """Wrap a freshly trained probe module (its weights are copied)."""
        weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        return cls(task=task, spec=spec, width=width, state_dict=weights, **fields)

    @cached_property
    def module(self) -> nn.Module:
        """The probe rebuilt from its spec and width, weights loaded, in eval mode."""
        probe = build_probe(self.spec, self.width, self.n_outputs)
        probe.load_state_dict(self.state_dict)
        return probe.eval()

    def outputs(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw probe outputs [B, out] -> EF in percent [B] (regression) or class probabilities [B, K]."""
        if self.kind == "regression":
            return raw[..., 0] * self.target_std + self.target_mean
        return raw.softmax(-1)

    @torch.inference_mode()
    def clip_outputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-clip outputs of tokens [B, N, D]: EF [B] or probabilities [B, K]."""
        return self.outputs(self.module(tokens))

    def predict(self, tokens: np.ndarray) -> np.ndarray:
        """Clip-averaged outputs of tokens [V, C, N, D]: EF [V] or class probabilities [V, K]."""
        raw = torch.from_numpy(predict_raw(self.module, tokens))  # [V, C, out]
        return self.outputs(raw).mean(1).numpy()

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        item = {
            "format": FORMAT, "task": self.task, "spec": self.spec.__dict__, "width": self.width,
            "state_dict": self.state_dict, "seed": self.seed, "train_examples": self.train_examples,
            "target_mean": self.target_mean, "target_std": self.target_std,
            "class_names": list(self.class_names), "selection": self.selection,
        }  # fmt: skip
        torch.save(item, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProbeArtifact:
        """A saved probe (ValueError naming the file when it is not one)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such probe file")
        data = path.read_bytes()  # hashed and loaded from the same bytes: what is served is what is hashed
        try:
            item = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            if item.get("format") != FORMAT:
                raise KeyError("format")
            return cls(
                task=item["task"], spec=ProbeSpec(**item["spec"]), width=int(item["width"]),
                state_dict=item["state_dict"], seed=int(item["seed"]),
                train_examples=int(item["train_examples"]), target_mean=item["target_mean"],
                target_std=item["target_std"], class_names=tuple(item["class_names"]),
                selection=item.get("selection"),  # absent in files older than the probe selection
                sha256=hashlib.sha256(data).hexdigest(),
            )  # fmt: skip
        except (KeyError, TypeError, AttributeError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise ValueError(f"{path}: not a probe file of this platform ({type(exc).__name__})") from None


@dataclass(frozen=True)
class ProbeEnsemble:
    """The probes of one task over seeds, served together: their outputs are averaged."""

    task: str
    members: tuple[ProbeArtifact, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError(f"{self.task}: an ensemble needs at least one probe")
        first = self.members[0]
        for other in self.members[1:]:
            if (other.task, other.width, other.class_names) != (first.task, first.width, first.class_names):
                raise ValueError(f"{self.task}: the ensemble's probes disagree on task, width or classes")

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.members[0].class_names

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(m.seed for m in self.members)

    def files(self) -> dict[str, str | None]:
        """{"<task>/seed-<n>.pt": sha256 of the loaded file} (None for probes not loaded from a file)."""
        return {f"{self.task}/seed-{m.seed}.pt": m.sha256 for m in self.members}

    def per_seed(self, tokens: np.ndarray) -> np.ndarray:
        """Every member's clip-averaged outputs: [S, V] (EF) or [S, V, K]."""
        return np.stack([m.predict(tokens) for m in self.members])

    def predict(self, tokens: np.ndarray) -> np.ndarray:
        """The served prediction: the members' mean."""
        return self.per_seed(tokens).mean(0)

    @torch.inference_mode()
    def clip_outputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-clip ensemble outputs of tokens [B, N, D]."""
        return torch.stack([m.clip_outputs(tokens) for m in self.members]).mean(0)

    def save_dir(self, folder: str | Path) -> list[Path]:
        """`folder/seed-<n>.pt` per member (the folder is emptied of older probes first)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*.pt"):
            old.unlink()
        return [m.save(folder / f"seed-{m.seed}.pt") for m in self.members]

    @classmethod
    def load_dir(cls, folder: str | Path) -> ProbeEnsemble:
        folder = Path(folder)
        files = sorted(folder.glob("seed-*.pt"), key=lambda p: int(p.stem.removeprefix("seed-")))
        if not files:
            raise ValueError(f"{folder}: no probe files (seed-<n>.pt)")
        members = tuple(ProbeArtifact.load(f) for f in files)
        return cls(members[0].task, members)
