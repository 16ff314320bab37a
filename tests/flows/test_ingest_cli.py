"""`echojepa ingest` as a user runs it inside a DVC repository: DICOM with identifiers in tags and burned
into the pixels, or an EchoNet-layout export with names for FileNames → de-identified dataset tracked by
DVC, and no identifier in any byte the platform wrote (manifest, videos, rejects, DVC pointer files and
cache, stdout, stderr); `--already-deidentified` and EchoNet's own `0X` names keep the names, and say so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.ingest.conftest import make_dynamic, sim_small  # noqa: F401  (fixtures)
from tests.ingest.test_dicom import SECRETS, dicom_src  # noqa: F401  (fixture)
from tests.ingest.test_echonet_names import CLINICAL, PATIENTS, PUBLIC, clinical_dynamic
from tests.packaged import REPO

CLI = [sys.executable, "-m", "flows.cli"]


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "ECHOJEPA_DEID_SALT": "cli-test-salt-not-secret-0123456789abcdef"}
    return subprocess.run([*CLI, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    shutil.copy(REPO / "params.yaml", root / "params.yaml")  # every default lives there
    return root


def written_bytes(repo: Path) -> dict[str, bytes]:
    """Every file under the repository but .git (data, DVC pointers and cache), by path."""
    return {
        str(p): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(repo).parts[:1]
    }


def test_dicom_ingest_is_tracked_and_leaks_no_identifier(dicom_src: Path, repo: Path) -> None:  # noqa: F811
    done = run(repo, "ingest", str(dicom_src), "--name", "clinic")
    assert done.returncode == 0, done.stderr
    out = repo / "data" / "raw" / "clinic"
    table = pd.read_csv(out / "FileList.csv")
    assert len(table) == 3 and table.EF.isna().all()  # unlabelled clinical clips
    assert (repo / "data" / "raw" / "clinic.dvc").is_file()
    assert "tracked with DVC" in done.stdout
    written = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.relative_to(repo).parts[:1]]
    assert any(".dvc/cache" in str(p) for p in written)  # the DVC cache holds the data too
    blobs = [p.read_bytes() for p in written] + [done.stdout.encode(), done.stderr.encode()]
    for secret in SECRETS:
        leaks = [
            p for p, b in zip([*written, "stdout", "stderr"], blobs, strict=True) if secret.encode() in b
        ]
        assert not leaks, f"{secret!r} found in {leaks}"

    again = run(repo, "ingest", str(dicom_src), "--name", "clinic")
    assert again.returncode == 0 and "unchanged" in again.stdout


def test_echonet_layout_names_are_pseudonymised_unless_kept(
    sim_small: Path,  # noqa: F811
    repo: Path,
    tmp_path: Path,
) -> None:
    source = clinical_dynamic(sim_small, tmp_path / "export")
    done = run(repo, "ingest", str(source), "--name", "clinic")
    assert done.returncode == 0, done.stderr
    assert "; changed; FileNames pseudonymised" in done.stdout
    table = pd.read_csv(repo / "data" / "raw" / "clinic" / "FileList.csv")
    assert (
        table.FileName.str.fullmatch(r"en_[0-9a-f]{16}").all() and table.PatientID.str.startswith("pt_").all()
    )
    blobs = written_bytes(repo) | {"stdout": done.stdout.encode(), "stderr": done.stderr.encode()}
    assert any(".dvc/cache" in where for where in blobs)
    leaks = [
        (s, where) for s in [*CLINICAL, *PATIENTS] for where, blob in blobs.items() if s.encode() in blob
    ]
    assert not leaks

    kept = run(repo, "ingest", str(source), "--name", "kept", "--already-deidentified", "--no-dvc")
    assert kept.returncode == 0 and "; kept: already de-identified (flag)" in kept.stdout
    assert sorted(pd.read_csv(repo / "data" / "raw" / "kept" / "FileList.csv").FileName) == sorted(CLINICAL)

    public = clinical_dynamic(sim_small, tmp_path / "public", names=PUBLIC, patients=None)
    done = run(repo, "ingest", str(public), "--name", "public", "--no-dvc")
    assert done.returncode == 0 and "; kept: every FileName is EchoNet's 0X… form" in done.stdout
    assert list(pd.read_csv(repo / "data" / "raw" / "public" / "FileList.csv").FileName) == PUBLIC


def test_validate_accepts_a_real_layout_dynamic_folder(sim_small: Path, repo: Path, tmp_path: Path) -> None:  # noqa: F811
    source = make_dynamic(sim_small, tmp_path / "EchoNet-Dynamic")
    assert run(repo, "ingest", str(source), "--name", "dynamic", "--no-dvc").returncode == 0
    done = run(repo, "validate", "data/raw/dynamic")
    assert done.returncode == 0, done.stderr
    accepted = pd.read_csv(repo / "data" / "validated" / "dynamic" / "FileList.csv")
    raw = pd.read_csv(repo / "data" / "raw" / "dynamic" / "FileList.csv")
    assert len(accepted) == len(raw) and set(accepted.View) == {"A4C"}


def test_bad_source_is_one_line(repo: Path) -> None:
    done = run(repo, "ingest", "/no/such/folder", "--name", "x")
    assert done.returncode == 1
    assert done.stderr.startswith("echojepa: error:") and done.stderr.count("\n") == 1
