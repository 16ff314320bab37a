"""Fixtures for the release flow tests: a real Prefect API (prefect_test_harness, one per module that asks
for it) and a workspace holding the files the flow's later steps read, so no pipeline stage has to run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
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


def write_encoder(root: Path, seed: int = 0) -> Path:
    """encoder.pt of run jepa-tiny: only its bytes matter here (the ledger records their sha256)."""
    path = root / "models" / "jepa-tiny" / "encoder.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    return path


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A repository-like working directory (params, encoder, passing evaluation, validated manifest +
    facts, embeddings, probe predictions), an isolated BentoML store and no ledger key."""
    root = tmp_path / "repo"
    root.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["release"] = {"approval_timeout_hours": 1, "reviewers": ["bob", "carol"]}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_encoder(root)
    write_evaluation(root, GATES_PASSING)
    names = [f"0X{i:04d}" for i in range(6)]
    validated = root / "data" / "validated" / "synthetic"
    validated.mkdir(parents=True)
    split = ["TRAIN", "TRAIN", "VAL", "VAL", "TEST", "TEST"]
    pd.DataFrame({"FileName": names, "EF": np.linspace(30, 70, 6), "Split": split}).to_csv(
        validated / "FileList.csv", index=False
    )
    pd.DataFrame({"FileName": names, "brightness": np.arange(6.0), "contrast": np.arange(6.0) * 2}).to_csv(
        validated / "facts.csv", index=False
    )
    embeddings = root / "data" / "embeddings" / "jepa-tiny"
    embeddings.mkdir(parents=True)
    np.save(embeddings / "pooled.npy", np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
    pd.DataFrame({"FileName": names}).to_csv(embeddings / "index.csv", index=False)
    probes = root / "reports" / "probes"
    probes.mkdir(parents=True)
    # as the probe stage writes them: TEST rows only (probes train on TRAIN + VAL)
    pd.DataFrame({"FileName": names[4:], "actual": 50.0, "predicted": 52.0}).to_csv(
        probes / "metrics_predictions_ef.csv", index=False
    )

    home = tmp_path / "bentoml"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    monkeypatch.delenv("ECHOJEPA_LEDGER_KEY", raising=False)
    monkeypatch.chdir(root)
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    # BentoML caches its home and store as singletons; point both at this test's folder
    with (
        BentoMLContainer.bentoml_home.patch(str(home)),
        BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))),
    ):
        yield root
