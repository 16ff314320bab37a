"""A real `echojepa serve` (bentoml serve) subprocess on 127.0.0.1 serving the session's packaged model,
with the API key on, tight input limits and clip retention; helpers to call it with curl."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.packaged import REPO, PackagedModel, write_params

KEY_ENV = "ECHOJEPA_TEST_API_KEY"
KEY = "test-key-4f9a2c"
# limits the sample videos (112x112, ~130 frames, < 1 MB) pass and the bad-input files do not
LIMITS = {"max_upload_mb": 2.0, "max_frames": 300, "max_frame_pixels": 160 * 160}


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    params: Path
    production_log: Path
    key: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, path: str, status: int = 200, timeout: float = 180.0, process=None) -> httpx.Response:
    """Poll `url+path` until it answers `status` (bounded; fails early if the server process died)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            response = httpx.get(url + path, timeout=5)
            if response.status_code == status:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc.__class__.__name__
        time.sleep(0.25)
    raise TimeoutError(f"{url}{path} did not answer {status} within {timeout:.0f} s (last: {last})")


def start_server(model: PackagedModel, params: Path, log: Path, env: dict[str, str] | None = None) -> Server:
    """`echojepa serve` in its own process group (so SIGINT reaches bentoml too, as Ctrl-C would)."""
    port = free_port()
    environment = os.environ | model.env(params) | (env or {})
    command = [sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--params", str(params)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    import yaml

    production_log = Path(yaml.safe_load(params.read_text())["serving"]["production_log"])
    server = Server(
        f"http://127.0.0.1:{port}", process, log, params, production_log, (env or {}).get(KEY_ENV)
    )
    try:
        wait_for(server.url, "/healthz", process=process)
    except Exception:
        stop_server(server)
        raise RuntimeError(f"server did not start; its log:\n{log.read_text()[-3000:]}") from None
    return server


def stop_server(server: Server) -> None:
    """SIGINT to the server's process group (graceful: the production log is flushed), then wait."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGINT)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


def curl(server: Server, route: str, *args: str, key: str | None = "default") -> tuple[int, object]:
    """POST with curl; returns (status, parsed JSON body or the raw text)."""
    key = server.key if key == "default" else key
    auth = ["-H", f"Authorization: Bearer {key}"] if key else []
    result = subprocess.run(
        ["curl", "-s", "-S", "-o", "-", "-w", "\n%{http_code}", *auth, *args, server.url + route],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    body, _, status = result.stdout.rpartition("\n")
    try:
        return int(status), json.loads(body)
    except json.JSONDecodeError:
        return int(status), body


@pytest.fixture(scope="session")
def server(packaged_model: PackagedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The packaged model served with API key KEY, the tight LIMITS, retained clips, fast log flushes."""
    root = tmp_path_factory.mktemp("server")
    params = write_params(
        root / "params.yaml",
        base=packaged_model.params,
        serving={
            **LIMITS, "retain_clips": True, "flush_seconds": 0.3, "reload_seconds": 0,
            "api_key_env": KEY_ENV, "max_batch_size": 32, "production_log": str(root / "production"),
            "max_in_flight": 32,  # the load test's 16 clients all in flight (the cap has its own tests)
        },
        probe={"clips_per_video": 2},
    )  # fmt: skip
    running = start_server(packaged_model, params, root / "server.log", {KEY_ENV: KEY})
    wait_for(running.url, "/readyz", process=running.process)
    yield running
    stop_server(running)
