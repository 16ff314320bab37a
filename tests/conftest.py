"""Shared fixtures: one simulated dataset per test session, reused by every test that reads it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ultrasound.dataset import simulate_dataset

SESSION_VIDEOS = 240  # enough for the shortcut regression and per-view correlations; ~25 s on 2 cores
SESSION_SEED = 1


@pytest.fixture(scope="session", autouse=True)
def isolated_model_store(tmp_path_factory: pytest.TempPathFactory):
    """No test writes into the checkout's BentoML store (models/bentoml): in-process `echojepa` calls would
    otherwise point $BENTOML_HOME there for the rest of the session. Tests that package set their own."""
    import os

    before = os.environ.get("BENTOML_HOME")
    os.environ["BENTOML_HOME"] = str(tmp_path_factory.mktemp("bentoml-session"))
    yield
    if before is None:
        os.environ.pop("BENTOML_HOME", None)
    else:
        os.environ["BENTOML_HOME"] = before


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mixed-cohort synthetic dataset in EchoNet-Dynamic layout."""
    out = tmp_path_factory.mktemp("synthetic")
    simulate_dataset(out, SESSION_VIDEOS, seed=SESSION_SEED, cohort="mixed")
    return out


@pytest.fixture(scope="session")
def filelist(sim_dir: Path) -> pd.DataFrame:
    return pd.read_csv(sim_dir / "FileList.csv")


@pytest.fixture(scope="session")
def tracings(sim_dir: Path) -> pd.DataFrame:
    return pd.read_csv(sim_dir / "VolumeTracings.csv")


@pytest.fixture(scope="session")
def factors(sim_dir: Path) -> pd.DataFrame:
    return pd.read_csv(sim_dir / "SimulationFactors.csv")


@pytest.fixture(scope="session")
def packaged_model(tmp_path_factory: pytest.TempPathFactory):
    """A real tiny model released through the ledger and packaged in its own BentoML store, with a params
    file pointing at it and sample videos (clean and perturbed): see tests/packaged.py for what is where.

    Built once per session (~40 s on 2 cores): 32 simulated videos, 4 pretraining steps, EF and view
    probes, register → approve → package_candidate. Serve it with `os.environ | packaged_model.env()`;
    load it in-process with `serving.predictor.Predictor(packaged_model.model_dir)`."""
    from tests.packaged import build_packaged_model

    return build_packaged_model(tmp_path_factory.mktemp("packaged"))
