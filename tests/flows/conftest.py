"""Fixtures for the release flow tests: a real Prefect API (prefect_test_harness, one per module that asks
for it), real SSH keys (tests.release.conftest: alice and bob register and review, carol reviews, dana is
the release manager, `scheduler` only registers, mallory is listed nowhere), and a workspace holding the
files the flow's later steps read, so no pipeline stage has to run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.release.conftest import keys  # noqa: F401  (the session's SSH keys, shared with tests/release)

ROOT = Path(__file__).resolve().parents[2]
RUN = Path("models") / "jepa-tiny"  # the run layout's run_dir of the tiny JEPA preset
GATES_PASSING = [
    {"name": "ef_mae", "value": 5.2, "threshold": 8.0, "passed": True},
    {"name": "ef_mae_margin_over_random_init", "value": 0.21, "threshold": 0.05, "passed": True},
    {"name": "view_accuracy", "value": 0.91, "threshold": 0.8, "passed": True},
]


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """A temporary Prefect server (SQLite, subprocess) for this module; yields its API URL."""
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # no noisy 'database is locked' telemetry
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield PREFECT_API_URL.value()


def write_evaluation(root: Path, gates: list[dict], ef_mae: float = 5.2) -> Path:
    path = root / "reports" / "evaluation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "metrics": {"ef_mae": ef_mae, "view_accuracy": 0.91},
        "baselines": {"random_init": {"ef_mae": 6.6}},
        "subgroups": {},
        "gates": gates,
        "data_version": "unknown",
        "model_version": "unknown",
    }
    path.write_text(json.dumps(report))
    return path


def write_run(root: Path, seed: int = 0) -> Path:
    """The run folder as the stages leave it: encoder, config, the served probes (one seed per task) and
    the monitoring reference the evaluation wrote. Untrained tiny weights, but a model the service loads
    (packaging runs its load smoke test); the seed makes each run's bytes its own."""
    import torch

    from config.params import load_params
    from serving.model_files import write_untrained_model

    run = root / RUN
    params = load_params(ROOT / "params.yaml")
    torch.manual_seed(seed)
    write_untrained_model(run, params.pretrain, params.probe, ("A4C", "PSAX"))
    (run / "target_encoder.pt").write_bytes(np.random.default_rng(seed).bytes(512))
    reference = pd.DataFrame(
        {"FileName": ["0X0004", "0X0005"], "brightness": [40.0, 41.0], "ef": [52.0, 52.0 + seed]}
    )
    reference.to_parquet(run / "reference.parquet", index=False)
    (root / "reports").mkdir(parents=True, exist_ok=True)
    (root / "reports" / "model_card.html").write_text(f"<h1>run {seed}</h1>")
    return run


def write_params(root: Path, signing_key: Path, **release) -> Path:
    """params.yaml with a release section inside `root` (the witness beside it) and this key."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["release"] |= {
        "approval_timeout_hours": 1,
        "signing_key": str(signing_key),
        "witness_dir": str(root.parent / "witness"),
        **release,
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root / "params.yaml"


def release_settings(root: Path):
    from config.params import load_params

    return load_params(root / "params.yaml").release


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys) -> Iterator[Path]:  # noqa: F811
    """A repository-like working directory: params (alice's key signs this machine's lines), a run
    folder, a passing evaluation and a model card, a ledger started by the release manager dana with the
    session's allowed signers, a witness folder outside it, and an isolated BentoML store."""
    from release.decisions import start_ledger
    from release.ledger import open_ledger

    root = tmp_path / "repo"
    root.mkdir()
    write_params(root, keys.path("alice"))
    write_run(root)
    write_evaluation(root, GATES_PASSING)
    home = tmp_path / "bentoml"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    monkeypatch.chdir(root)
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    # BentoML caches its home and store as singletons; point both at this test's folder
    with (
        BentoMLContainer.bentoml_home.patch(str(home)),
        BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))),
    ):
        start_ledger(open_ledger(release_settings(root)), keys.signer("dana"), keys.signers())
        yield root
