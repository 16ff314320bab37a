"""`echojepa secrets init`: a 0600 salt of at least 32 bytes in a git-ignored folder, made once and then
kept; a short salt is refused in one line (ingest refuses it too), never silently replaced."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ingest.deid import MIN_SALT_BYTES, SaltError, load_salt

ROOT = Path(__file__).resolve().parents[2]


def init(cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ECHOJEPA_DEID_SALT"}
    command = [sys.executable, "-m", "flows.cli", "secrets", "init", "--params", "params.yaml"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_secrets_init_creates_once_and_refuses_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"]["salt_file"] = "vault/salt"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    first = init(tmp_path)
    assert first.returncode == 0 and "vault/salt: created (mode 0600)" in first.stdout, first.stderr
    salt = tmp_path / "vault" / "salt"
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600 and len(salt.read_text().strip()) >= MIN_SALT_BYTES
    assert (tmp_path / "vault" / ".gitignore").read_text() == "*\n"
    made = salt.read_bytes()
    again = init(tmp_path)
    assert again.returncode == 0 and "exists; kept" in again.stdout and salt.read_bytes() == made
    salt.write_text("too-short\n")
    short = init(tmp_path)
    assert short.returncode == 1 and salt.read_text() == "too-short\n"
    (line,) = short.stderr.strip().splitlines()
    assert "is 9 bytes; at least 32 are needed" in line
    monkeypatch.delenv("ECHOJEPA_DEID_SALT", raising=False)
    with pytest.raises(SaltError, match="at least 32"):
        load_salt(salt)  # ingest refuses the same salt
    monkeypatch.setenv("ECHOJEPA_DEID_SALT", "x" * 31)
    with pytest.raises(SaltError, match="ECHOJEPA_DEID_SALT is 31 bytes"):
        load_salt(salt)
