"""Start-up refusals: a public address without an API key, a missing or short de-identification salt;
each one line, from the unit up to a real `bentoml serve` that exits instead of listening."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.s3 import without_userinfo
from serving.config import ServingSettings
from serving.startup import StartupRefused, check_exposure, listening_host, read_salt, required_salt
from tests.configs import PARAMS, section
from tests.packaged import REPO, write_params
from tests.serving.conftest import free_port

LONG_SALT = "a" * 32


def _settings(tmp_path: Path, **serving) -> ServingSettings:
    base = ServingSettings.from_params(PARAMS, REPO / "params.yaml")
    return replace(base, serving=section("serving", **serving), salt_file=tmp_path / "salt")


def test_a_public_address_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path, api_key_env="ECHOJEPA_TEST_KEY")
    monkeypatch.delenv("ECHOJEPA_TEST_KEY", raising=False)
    for host in ("127.0.0.1", "::1", "localhost", None):
        check_exposure(settings, host)
    for host in ("0.0.0.0", "::", "10.1.2.3", "echo.example.org"):
        with pytest.raises(StartupRefused, match=f"refusing to serve on {host} without an API key"):
            check_exposure(settings, host)
    monkeypatch.setenv("ECHOJEPA_TEST_KEY", "k")  # positive controls: a key, or the explicit override
    check_exposure(settings, "0.0.0.0")
    monkeypatch.delenv("ECHOJEPA_TEST_KEY")
    check_exposure(_settings(tmp_path, allow_unauthenticated_public=True), "0.0.0.0")


def test_the_bound_address_is_read_from_the_socket_or_the_command_line() -> None:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        assert listening_host(["worker", "--fd", str(sock.fileno())]) == "0.0.0.0"
    assert listening_host(["bentoml", "serve", "svc:S", "--host", "10.0.0.1"]) == "10.0.0.1"
    assert listening_host(["bentoml", "serve", "svc:S", "--host=::"]) == "::"
    assert listening_host(["bentoml", "build"]) is None


def test_the_salt_is_read_never_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECHOJEPA_DEID_SALT", raising=False)
    settings = _settings(tmp_path, retain_clips=True, feast_push="off")
    with pytest.raises(StartupRefused, match="no de-identification salt \\(retain_clips need"):
        required_salt(settings)
    assert not settings.salt_file.exists()  # serving did not mint one
    assert required_salt(_settings(tmp_path, retain_clips=False, feast_push="off")) is None
    settings.salt_file.write_text("short-salt\n")
    with pytest.raises(StartupRefused, match="is 10 bytes; at least 32"):
        read_salt(settings)
    settings.salt_file.write_text(LONG_SALT + "\n")
    assert required_salt(settings) == LONG_SALT.encode()
    monkeypatch.setenv("ECHOJEPA_DEID_SALT", "b" * 40)  # the environment wins, as at ingest
    assert read_salt(settings) == b"b" * 40


def _bentoml_serve(params: Path, host: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("ECHOJEPA_DEID_SALT", "ECHOJEPA_API_KEY")}
    command = [sys.executable, "-m", "bentoml", "serve", "serving.service:EchoJEPA", "--host", host,
               "--port", str(free_port())]  # fmt: skip
    return subprocess.run(
        command, cwd=REPO, env=environment | {"ECHOJEPA_PARAMS": str(params)} | env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_bentoml_serve_refuses_to_start(tmp_path: Path) -> None:
    """The real `bentoml serve` exits with one line instead of listening (each would otherwise serve
    until killed, so the subprocess returning at all is the refusal)."""
    params = write_params(
        tmp_path / "params.yaml", serving={"retain_clips": True, "production_log": str(tmp_path / "log")},
        ingest={"salt_file": str(tmp_path / "no-salt")},
    )  # fmt: skip
    public = _bentoml_serve(params, "0.0.0.0", {"ECHOJEPA_DEID_SALT": LONG_SALT})
    assert public.returncode != 0 and "refusing to serve on 0.0.0.0 without an API key" in public.stderr
    no_salt = _bentoml_serve(params, "127.0.0.1", {})
    assert (
        no_salt.returncode != 0 and "no de-identification salt (retain_clips and feast_push" in no_salt.stderr
    )
    assert not (tmp_path / "no-salt").exists()
    for run in (public, no_salt):
        assert "Traceback" not in run.stderr, run.stderr[-2000:]


def test_urls_in_errors_lose_their_user_info() -> None:
    assert without_userinfo("http://AKIA:s3cr3t@minio.local:9000/x") == "http://minio.local:9000/x"
    assert without_userinfo("s3://bucket/prefix") == "s3://bucket/prefix" and without_userinfo(None) is None
