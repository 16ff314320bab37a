"""A probe as a file: one save/load round trip, one denormalisation, and refusals of files that are not
probes; an ensemble averages its members."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from config.params import load_params
from model.probe_artifact import ProbeArtifact, ProbeEnsemble
from model.probes import build_probe
from tests.packaged import REPO


def _artifact(task: str, seed: int, width: int = 8) -> ProbeArtifact:
    spec = load_params(REPO / "params.yaml").probe.spec(time_steps=0)
    torch.manual_seed(seed)
    classes = ("A2C", "A4C", "PLAX") if task == "view" else ()
    module = build_probe(spec, width, max(1, len(classes)))
    stats = {"target_mean": 55.0, "target_std": 12.0} if task == "ef" else {"class_names": classes}
    return ProbeArtifact.from_module(task, module, spec, width, seed=seed, train_examples=10, **stats)


def test_round_trip_keeps_weights_and_outputs(tmp_path: Path) -> None:
    tokens = np.random.default_rng(0).normal(size=(4, 2, 10, 8)).astype(np.float16)
    for task in ("ef", "view"):
        artifact = _artifact(task, 0)
        loaded = ProbeArtifact.load(artifact.save(tmp_path / task / "seed-0.pt"))
        assert loaded.class_names == artifact.class_names and loaded.spec == artifact.spec
        assert np.allclose(loaded.predict(tokens), artifact.predict(tokens))
    raw = torch.tensor([[0.0], [1.0], [-1.0]])
    assert _artifact("ef", 0).outputs(raw).tolist() == [55.0, 67.0, 43.0]  # the one denormalisation
    probs = _artifact("view", 0).predict(tokens)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(1), 1.0)


def test_an_ensemble_is_the_mean_of_its_members(tmp_path: Path) -> None:
    tokens = np.random.default_rng(1).normal(size=(5, 3, 10, 8)).astype(np.float16)
    ensemble = ProbeEnsemble("ef", (_artifact("ef", 0), _artifact("ef", 1)))
    assert np.allclose(ensemble.predict(tokens), ensemble.per_seed(tokens).mean(0))
    ensemble.save_dir(tmp_path / "ef")
    assert sorted(p.name for p in (tmp_path / "ef").iterdir()) == ["seed-0.pt", "seed-1.pt"]
    assert ProbeEnsemble.load_dir(tmp_path / "ef").seeds == (0, 1)
    clips = torch.from_numpy(tokens[:, 0].astype(np.float32))
    assert ensemble.clip_outputs(clips).shape == (5,)


def test_files_that_are_not_probes_are_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a probe")
    torch.save({"state_dict": {}, "stats": {}}, tmp_path / "old.pt")  # the format before ProbeArtifact
    for name in ("junk.pt", "old.pt", "absent.pt"):
        with pytest.raises(ValueError, match=name):
            ProbeArtifact.load(tmp_path / name)
    with pytest.raises(ValueError, match="two or more class names"):
        _artifact("view", 0).__class__(**{**_artifact("view", 0).__dict__, "class_names": ("A4C",)})
    with pytest.raises(ValueError, match="disagree"):
        ProbeEnsemble("ef", (_artifact("ef", 0), _artifact("ef", 1, width=16)))


def test_the_selected_head_is_recorded_in_the_file_and_older_files_still_load(tmp_path: Path) -> None:
    from dataclasses import replace

    chosen = {"metric": "val_mae", "value": 6.1, "lr": 0.001, "weight_decay": 0.1, "val_examples": 5,
              "heads": [{"lr": 0.001, "weight_decay": 0.1, "value": 6.1}]}  # fmt: skip
    artifact = replace(_artifact("ef", 0), selection=chosen)
    assert ProbeArtifact.load(artifact.save(tmp_path / "selected.pt")).selection == chosen
    path = _artifact("ef", 1).save(tmp_path / "old.pt")
    item = torch.load(path, weights_only=True)
    del item["selection"]  # a file written before the probe selection
    torch.save(item, path)
    assert ProbeArtifact.load(path).selection is None
