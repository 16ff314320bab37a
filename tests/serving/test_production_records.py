"""What a served prediction leaves behind: its production-log row (pseudonymised, no patient identifier)
and the same record in Feast's online store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest.deid import Pseudonymizer, pseudonym
from serving.production_log import LOG_COLUMNS, read_production_log
from tests.packaged import SALT, PackagedModel
from tests.serving.conftest import Server, curl

RAW_STUDY_ID = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"


def _row(root: Path, request_id: str, timeout: float = 15.0) -> pd.Series:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = read_production_log(root)
        if (frame.request_id == request_id).any():
            return frame[frame.request_id == request_id].iloc[0]
        time.sleep(0.1)
    raise AssertionError(f"no production-log row for {request_id} within {timeout} s")


@pytest.fixture(scope="module")
def served(server: Server, packaged_model: PackagedModel) -> dict:
    video = packaged_model.perturbed["blur"]
    status, body = curl(
        server, "/predict", "-F", f"video=@{video}", "-F", f"study_id={RAW_STUDY_ID}",
        "-F", "device=Acme <Vivid> E95\n", "-F", "cohort=Pediatric",
    )  # fmt: skip
    assert status == 200, body
    return body


def test_a_prediction_appends_its_row(server: Server, served: dict, packaged_model: PackagedModel) -> None:
    started = time.monotonic()
    row = _row(server.production_log, served["request_id"])
    assert time.monotonic() - started < 5.0  # flush_seconds 0.3: readable within seconds
    assert tuple(row.index) == LOG_COLUMNS
    assert row["model_version"] == packaged_model.model_version and row["time"].tzinfo is not None
    assert row["ef"] == pytest.approx(served["ef"]) and row["view"] == served["view"]
    assert list(row["view_probs"]) == pytest.approx(list(served["view_probabilities"].values()))
    assert row["warnings"] == ",".join(served["quality"]["causes"]) and row["warnings"].startswith("blur")
    assert bool(row["degraded"]) and row["embedding"].dtype == np.float32 and len(row["embedding"]) == 96
    assert row["brightness"] == pytest.approx(served["quality"]["metrics"]["brightness"])
    assert (row["device"], row["cohort"]) == ("Acme Vivid E95", "pediatric")


def test_the_study_id_is_only_stored_as_its_pseudonym(server: Server, served: dict) -> None:
    row = _row(server.production_log, served["request_id"])
    assert row["study_id"] == pseudonym("sop", RAW_STUDY_ID, SALT.encode()) != RAW_STUDY_ID
    assert row["study_id"] == Pseudonymizer(SALT.encode()).file_name(RAW_STUDY_ID)  # DICOM ingest's FileName
    for path in server.production_log.rglob("*"):
        if path.is_file():
            assert RAW_STUDY_ID.encode() not in path.read_bytes(), path
    assert RAW_STUDY_ID not in server.log.read_text()


def test_the_record_reaches_feast(server: Server, served: dict, packaged_model: PackagedModel) -> None:
    import yaml

    from features.definitions import REQUEST_KEY
    from features.store import online_features, open_store

    root = Path(yaml.safe_load(server.params.read_text())["features"]["root"])
    deadline = time.monotonic() + 90  # the server's first push imports Feast
    refs = ["production_log:ef", "production_log:warnings", "production_log:model_version"]
    while True:
        if (root / "registry.db").exists():
            online = online_features(open_store(root), [served["request_id"]], refs, key=REQUEST_KEY)
            if online["ef"].notna().all():
                break
        assert time.monotonic() < deadline, "the production record never reached Feast's online store"
        time.sleep(1.0)
    assert online["ef"].iloc[0] == pytest.approx(served["ef"], abs=1e-3)
    assert online["model_version"].iloc[0] == packaged_model.model_version
    assert online["warnings"].iloc[0].startswith("blur")
