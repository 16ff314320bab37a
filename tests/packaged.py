"""A real, released tiny model for tests that serve or monitor it (the session fixture `packaged_model`).

`build_packaged_model(root)` runs the platform's own steps at toy size, all under `root`:
1. simulate an EchoNet-layout dataset (`dataset`, 32 videos);
2. pretrain the tiny JEPA for a few steps (model.train.pretrain) into `run_dir`;
3. embed every video with it and fit the served EF and view probes through the one probe protocol
   (evaluation.probe_protocol; one seed, saved as the run's probes/<task>/seed-0.pt);
4. register a candidate with passing gates (signed by alice's SSH key), approve it (a decision signed by
   bob's key) and package it with release.package.package_candidate into the BentoML store at
   `bento_home`, which makes it production in the ledger at `ledger` (its heads witnessed in
   `root/witness`, the params file's release.witness_dir); the packaged reference.parquet
   holds the held-out (VAL, TEST) videos' quality metrics, predictions (`ef`, `view`) and pooled
   `embedding`, keyed by FileName;
5. write `params`, a copy of the repo's params.yaml whose release.ledger and witness_dir,
   serving.production_log, features.root and ingest.salt_file point into `root`;
6. keep sample videos: `clean` (three simulated AVIs) and `perturbed` (kind -> the first clean video with
   that ultrasound.perturbations kind at high severity, one AVI each).

Use it from another process (a server): `subprocess.Popen(..., env=os.environ | model.env())`.
Use it in-process: `Predictor(model.model_dir, model.settings(), model_version=model.model_version)`, or
open the store
with `with bento_store(model.bento_home): ...` (BentoML caches its store as a process-wide singleton).
`build_packaged_model(root, preset="small", train=False)` packages an untrained model of another preset
(speed benchmarks).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SALT = "packaged-model-test-salt-0123456789abcdef"  # 32+ bytes: serving refuses shorter


@dataclass(frozen=True)
class PackagedModel:
    """Where a built, released model and its companions live (see the module docstring)."""

    root: Path
    params: Path
    bento_home: Path
    ledger: Path
    tag: str
    model_version: str
    model_dir: Path
    run_dir: Path
    dataset: Path
    clean: tuple[Path, ...]
    perturbed: dict[str, Path]

    def settings(self):
        """The serving settings of this model's params file (input limits, clips per video)."""
        from serving.config import load_serving_settings

        return load_serving_settings(self.params)

    def env(self, params: Path | None = None) -> dict[str, str]:
        """Environment for a process that serves this model: its store, params file and salt."""
        return {
            "BENTOML_HOME": str(self.bento_home), "BENTOML_DO_NOT_TRACK": "True",
            "ECHOJEPA_PARAMS": str(params or self.params), "ECHOJEPA_DEID_SALT": SALT,
        }  # fmt: skip


@contextlib.contextmanager
def bento_store(home: Path) -> Iterator[None]:
    """Point this process's BentoML model store at `home` for the duration of the block."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    (Path(home) / "models").mkdir(parents=True, exist_ok=True)
    with (
        BentoMLContainer.bentoml_home.patch(str(home)),
        BentoMLContainer.model_store.patch(ModelStore(str(Path(home) / "models"))),
    ):
        yield


def write_params(out: Path, base: Path = REPO / "params.yaml", **sections: dict) -> Path:
    """A copy of `base` with keys of some sections replaced, e.g. serving={"max_frames": 300}."""
    params = yaml.safe_load(Path(base).read_text())
    for name, values in sections.items():
        params[name] = {**(params.get(name) or {}), **values}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(yaml.safe_dump(params, sort_keys=False))
    return Path(out)


def _train(root: Path, dataset: Path, preset: str, steps: int, train: bool):
    from config.params import load_params
    from model.train import pretrain
    from serving.model_files import write_untrained_model

    run = root / "models" / f"jepa-{preset}"
    params = load_params(REPO / "params.yaml", {
        "data.root": str(dataset.parent), "data.dataset": dataset.name, "data.cache": str(root / "cache"),
        "data.validated": str(root / "validated"), "data.batch_size": 4, "model.preset": preset,
        "optimization.steps": steps, "optimization.warmup": 1, "optimization.checkpoint_every": steps,
        "probe.epochs": 5, "probe.batch_size": 16, "probe.seeds": [0], "probe.fractions": [1.0],
        "probe.clips_per_video": 3,
    })  # fmt: skip
    if train:
        pretrain(params.pretrain, run, resume=False, progress=False)
    else:
        write_untrained_model(run, params.pretrain, params.probe, tuple(params.validation.views))
    return params, run


def _fit_probes(params, run: Path, dataset: Path) -> float:
    """Embed the dataset with the run's encoder, save the EF and view probes as the probe stage does;
    returns the served (ensemble) TEST EF MAE."""
    from evaluation.probe_protocol import fit_protocol
    from model.config import token_time_steps
    from model.embed import embed_videos, load_encoder

    config = params.pretrain
    encoder = load_encoder(config, run / "encoder.pt")
    tokens, table = embed_videos(
        encoder, config, dataset, Path(config.data.cache) / dataset.name, params.probe.clips_per_video
    )
    result = fit_protocol(tokens, table, params.probe, token_time_steps(config))
    for task, ensemble in result.ensembles().items():
        ensemble.save_dir(run / "probes" / task)
    return float(result.tasks["ef"].metrics["mae"]["value"])


def _reference(run: Path, version: str, dataset: Path, settings) -> pd.DataFrame:
    """Quality metrics, predictions and pooled embeddings of the held-out (VAL and TEST) videos."""
    from serving.predictor import Predictor

    table = pd.read_csv(dataset / "FileList.csv")
    held_out = table[table.Split.isin(["VAL", "TEST"])].FileName
    predictor = Predictor(run, settings, model_version=version)
    rows = []
    for path in (dataset / "Videos" / f"{name}.avi" for name in held_out):
        result = predictor.predict(path.read_bytes(), path.name)
        rows.append({
            "FileName": path.stem, **result["quality"]["metrics"], "ef": result["ef"], "view": result["view"],
            "embedding": np.asarray(result["embedding"], dtype=np.float32),
        })  # fmt: skip
    return pd.DataFrame(rows)


def release_run(
    params: Path, bento_home: Path, run: Path, version: str, reference: pd.DataFrame, ef_mae: float = 9.0
) -> str:
    """Register the run as a candidate with passing gates, approve it (alice registers, bob reviews, both
    with SSH keys made next to the ledger) and package it into the store at `bento_home`: production in
    the ledger of `params` (release.ledger, with the witnesses of that file) from then on. Returns the
    tag."""
    from config.params import load_params
    from release.decisions import record_decision, register_candidate, sign_decision, start_ledger
    from release.ledger import open_ledger
    from release.manifest import run_files
    from release.package import package_candidate
    from serving.config import load_serving_settings
    from serving.smoke import servable_check

    settings = load_params(params).release
    folder = Path(settings.ledger).parent
    keys = signing_keys(folder / "test-keys")
    gates = [{"name": "ef_mae", "value": ef_mae, "threshold": 100.0, "passed": True}]
    evaluation = {"metrics": {"test": {"ef_mae": ef_mae}}, "gates": gates, "model_version": version}
    inputs = folder / "test-inputs" / version
    inputs.mkdir(parents=True, exist_ok=True)
    (inputs / "evaluation.json").write_text(json.dumps(evaluation))
    reference.to_parquet(inputs / "reference.parquet", index=False)
    files = run_files(run, **{name: inputs / name for name in ("evaluation.json", "reference.parquet")})
    with bento_store(bento_home):  # every append verifies the heads of this store
        ledger = open_ledger(settings)
        if not ledger.entries():
            start_ledger(ledger, keys["dana"], (folder / "test-keys" / "allowed_signers").read_text())
        candidate = register_candidate(
            ledger, signer=keys["alice"], files=files, model_version=version, data_version="sim",
            git_commit="test", gates=gates, metrics=evaluation["metrics"], params={},
        )  # fmt: skip
        approval = sign_decision(ledger, keys["bob"], "approve", candidate)
        record_decision(ledger, approval, signer=keys["alice"])
        check = servable_check(load_serving_settings(params))  # as the retrain flow packages
        return package_candidate(ledger, candidate, signer=keys["alice"], check=check)


def signing_keys(folder: Path) -> dict:
    """Signers alice (initiator), bob (reviewer), dana (release manager): ed25519 keys made once per
    folder, and their allowed-signers file."""
    import subprocess

    from release.signing import Signer

    roles = {"alice": "echojepa-initiator", "bob": "echojepa-review", "dana": "echojepa-release-manager"}
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, role in roles.items():
        if not (folder / name).is_file():
            command = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)]
            subprocess.run(command, check=True)
        public = " ".join((folder / f"{name}.pub").read_text().split()[:2])
        lines.append(f'{name} namespaces="{role}" {public}\n')
    (folder / "allowed_signers").write_text("".join(lines))
    return {name: Signer(folder / name) for name in roles}


def _samples(root: Path, videos: list[Path]) -> dict[str, Path]:
    from ultrasound.perturbations import PERTURBATION_KINDS, perturb
    from ultrasound.video_io import read_video, write_avi

    clean = read_video(videos[0])
    return {
        kind: write_avi(root / "samples" / f"{kind}.avi", perturb(clean.frames, kind, "high", 0), clean.fps)
        for kind in PERTURBATION_KINDS
    }


def build_packaged_model(
    root: Path, *, n_videos: int = 32, steps: int = 4, preset: str = "tiny", train: bool = True
) -> PackagedModel:
    """Simulate, pretrain, fit probes, release and package a model under `root` (see the module docstring).

    With `train=False` the encoder and probes are untrained (speed measurements): nothing is simulated
    beyond `n_videos` videos for samples and the reference, and no probe is fitted."""
    from ultrasound.dataset import simulate_dataset

    root = Path(root)
    dataset = root / "data" / "raw" / "sim"
    simulate_dataset(dataset, n_videos, seed=7, workers=2)
    videos = sorted((dataset / "Videos").glob("*.avi"))
    params, run = _train(root, dataset, preset, steps, train)
    ef_mae = _fit_probes(params, run, dataset) if train else 10.0
    version = f"jepa-{preset}@{hashlib.sha256((run / 'encoder.pt').read_bytes()).hexdigest()[:12]}"
    ledger = root / "registry" / "ledger.jsonl"
    params_file = write_params(
        root / "params.yaml",
        release={"ledger": str(ledger), "witness_dir": str(root / "witness")},
        serving={"production_log": str(root / "production")},
        features={"root": str(root / "features")},
        ingest={"salt_file": str(root / "secrets" / "salt")},
        probe={"clips_per_video": params.probe.clips_per_video},
    )
    from serving.config import load_serving_settings

    reference = _reference(run, version, dataset, load_serving_settings(params_file))
    tag = release_run(params_file, root / "bentoml", run, version, reference, ef_mae)
    with bento_store(root / "bentoml"):
        import bentoml

        model_dir = Path(bentoml.models.get(tag).path)
    return PackagedModel(
        root=root, params=params_file, bento_home=root / "bentoml", ledger=ledger, tag=tag,
        model_version=version,
        model_dir=model_dir, run_dir=run, dataset=dataset, clean=tuple(videos[:3]),
        perturbed=_samples(root, videos),
    )  # fmt: skip
