"""A real-data folder end to end: an EchoNet-Dynamic export in its own nine columns (one view, no View,
PatientID or Cohort column; names without extension) goes ingest → validate → `dvc repro` → a release
through the signed ledger (register, approve, package with the load smoke test) → `echojepa serve` →
`/predict` 200 with EF and `view: null` plus its reason → a monitoring run over the served traffic. Its
FileNames are not EchoNet's `0X` + 16 hex form, so ingest pseudonymises them, as for a clinical export.
`dvc repro` on it simulates nothing, and no simulated set gates it.

The clips are the simulator's (no real EchoNet video can be shipped or downloaded here); what makes the test
"real data" is the layout and the labels a real export has, which is what the platform must not assume
away. The release is the library path the retrain flow takes (tests/flows/test_retrain.py covers the flow
and its approval wait)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.flows.repo_copy import ROOT, audited_env, dvc, fresh_copy, ran, release, serving
from ultrasound.echonet import ECHONET_COLUMNS

NAME = "echonet-dynamic"
REAL_DATA = {
    "data": {"dataset": NAME},
    "simulate": {"datasets": {}},  # a real dataset: nothing to simulate
    "evaluate": {"pediatric_dataset": None},
    "monitoring": {"min_window": 3},
}


def echonet_export(folder: Path, videos: int = 24) -> Path:
    """The simulator's clips in EchoNet-Dynamic's own layout: nine columns, names without `.avi`, no
    simulation files."""
    command = [sys.executable, "-m", "flows.cli", "simulate", str(folder), "--n-videos", str(videos),
               "--seed", "5", "--cohort", "adult", "--workers", "1"]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=600)
    table = pd.read_csv(folder / "FileList.csv")
    table["FileName"] = table.FileName.str.removesuffix(".avi")
    table["Split"] = np.array(["TRAIN", "TRAIN", "TRAIN", "VAL", "TEST"])[np.arange(len(table)) % 5]
    table[list(ECHONET_COLUMNS)].to_csv(folder / "FileList.csv", index=False)
    for extra in ("SimulationFactors.csv", "simulation.json"):
        (folder / extra).unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    root = tmp_path_factory.mktemp("echonet")
    source = echonet_export(root / "EchoNet-Dynamic")
    repo = fresh_copy(root / "clone", REAL_DATA)
    ingest = [sys.executable, "-m", "flows.cli", "ingest", str(source), "--name", NAME, "--no-dvc"]
    done = subprocess.run(
        ingest, cwd=repo, env=audited_env(repo), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "FileNames pseudonymised" in done.stdout  # the simulator's short 0X names are not EchoNet's form
    return repo, dvc(repo, "repro"), source


def test_repro_on_a_real_layout_simulates_nothing(reproduced: tuple[Path, str, Path]) -> None:
    repo, log, _ = reproduced
    assert not [stage for stage in ran(log) if stage.startswith("simulate")]
    assert {"validate", "pretrain", "probe", "evaluate"} <= ran(log)
    assert not (repo / "data" / "raw" / "synthetic").exists()
    assert not (repo / "data" / "raw" / "synthetic-pediatric").exists()
    evaluation = json.loads((repo / "reports" / "evaluation.json").read_text())
    assert evaluation["tasks"]["view"]["value"] is None and "view" in evaluation["tasks"]["view"]["reason"]
    assert set(evaluation["probes"]) == {"ef/seed-0.pt", "ef/seed-1.pt"}  # no view probe, by design
    gates = {g["name"]: g for g in evaluation["gates"]}
    assert not gates["view_accuracy"]["passed"]  # not measured is never a pass
    assert "pediatric_ef_mae" not in gates or not gates["pediatric_ef_mae"]["passed"]


def test_released_single_view_model_serves_ef_with_view_null_and_is_monitored(
    reproduced: tuple[Path, str, Path],
) -> None:
    from tests.serving.conftest import curl

    repo, _, source = reproduced
    release(repo)
    model_version = json.loads((repo / "reports" / "evaluation.json").read_text())["model_version"]
    videos = sorted((source / "Videos").glob("*.avi"))[:4]
    with serving(repo) as server:
        import httpx

        ready = httpx.get(f"{server.url}/readyz", timeout=30).json()
        assert ready["tasks"] == ["ef"] and "view" in ready["missing"]
        for video in videos:
            status, body = curl(server, "/predict", "-F", f"video=@{video}")
            assert status == 200, body
            assert 0 < body["ef"] < 100 and body["view"] is None
            assert "no view probe" in body["view_reason"]
    command = [sys.executable, "-m", "flows.cli", "monitor", "--since", "2h"]
    done = subprocess.run(
        command, cwd=repo, env=audited_env(repo), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = sorted((repo / "reports" / "monitoring").glob("*/result.json"))
    assert results, f"no monitoring result was written:\n{done.stdout[-2000:]}"
    result = json.loads(results[-1].read_text())
    assert result["drift"]["rows"] == len(videos) and result["skipped_files"] == [], result
    assert result["reference"] and result["model_version"] == model_version
