"""S3 staging folders (raw, identifiable downloads) never outlive their ingest: one left by a SIGKILLed
ingest (a real subprocess) is removed by the next ingest, while a concurrent, live ingest's is kept; a
reused pid or another host's folder is told apart by the owner record."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ingest import ingest_source
from ingest.s3 import OWNER_FILE, STAGING_PREFIX, owner_alive, remove_stale_staging
from tests.ingest.conftest import make_dynamic
from tests.ingest.test_s3 import upload, use_credentials
from tests.packaged import REPO
from tests.s3_servers import moto_s3

# an ingest that has downloaded a raw file into its staging folder, then hangs (until killed)
CHILD = """
import sys, time
from pathlib import Path
from ingest.s3 import staging_folder
with staging_folder(Path(sys.argv[1])) as objects:
    (objects / "IM0001.dcm").write_bytes(b"raw DICOM with a patient name")
    print(objects.parent, flush=True)
    time.sleep(600)
"""


def _staging_child(parent: Path) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(parent)], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    return child, Path(child.stdout.readline().strip())


def test_a_killed_ingests_staging_goes_and_a_live_ones_stays(
    sim_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    live, live_folder = _staging_child(raw)
    killed, killed_folder = _staging_child(raw)  # (a start cleans up too: so the live one starts first)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    try:
        assert (killed_folder / "objects" / "IM0001.dcm").is_file()  # a kill leaves its raw files behind
        assert killed_folder.name.startswith(f"{STAGING_PREFIX}{killed.pid}-")
        src = make_dynamic(sim_small, tmp_path / "src")
        with moto_s3() as endpoint:
            upload(endpoint, src, "echo", "dynamic")
            use_credentials(monkeypatch, tmp_path, endpoint.env())
            result = ingest_source("s3://echo/dynamic", raw / "s3")
        assert result.rows == 6
        assert not killed_folder.exists()  # removed by the next ingest
        assert (live_folder / "objects" / "IM0001.dcm").is_file()  # the concurrent ingest keeps its own
        assert sorted(raw.glob(STAGING_PREFIX + "*")) == [live_folder]  # and the new ingest's is gone
    finally:
        live.kill()
        live.wait(timeout=10)


def test_the_owner_record_tells_a_reused_pid_and_another_host_apart(tmp_path: Path) -> None:
    own = json.loads(Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19])

    def folder(name: str, **owner: object) -> Path:
        path = tmp_path / f"{STAGING_PREFIX}{name}"
        path.mkdir()
        (path / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()} | owner))
        return path

    mine = folder("mine", start=str(own))  # this very process: alive
    reused = folder("reused", start=str(own + 1))  # same pid, another process start: its owner is dead
    elsewhere = folder("elsewhere", host="another-host", start="1")  # cannot be checked from here: kept
    unwritten = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-abc"  # owner file not written yet: by name
    unwritten.mkdir()
    assert [owner_alive(p) for p in (mine, reused, elsewhere, unwritten)] == [True, False, True, True]
    assert remove_stale_staging(tmp_path) == [reused]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (mine, elsewhere, unwritten))
