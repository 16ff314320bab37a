"""The in-flight cap is exact across a server's worker processes: with `workers: 2` and `max_in_flight: 2`,
eight simultaneous slow uploads get exactly two 200s (BentoML's own `max_concurrency` would allow the cap
in each worker: four), the other six a 429 with Retry-After at once. The kernel spreads the uploads over
the two workers; that two processes share the slots (and a dead one frees its own) is shown directly in
test_inflight.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from tests.hostile_files import jpeg_dicom
from tests.packaged import PackagedModel, write_params
from tests.serving.conftest import KEY, KEY_ENV, start_server, stop_server, wait_for
from tests.serving.test_load_limits import _post


def _cmdline(process: psutil.Process) -> str:
    """The command line of a child, "" for one that exited since it was listed (BentoML's short-lived
    helpers: CI once saw one vanish between `children()` and `cmdline()`)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return ""


def test_the_cap_holds_across_two_workers(packaged_model: PackagedModel, tmp_path: Path) -> None:
    params = write_params(
        tmp_path / "params.yaml", base=packaged_model.params,
        serving={
            "reload_seconds": 0, "api_key_env": KEY_ENV, "production_log": str(tmp_path / "production"),
            "workers": 2, "max_in_flight": 2, "timeout_s": 60, "feast_push": "off",
        },
    )  # fmt: skip
    server = start_server(packaged_model, params, tmp_path / "server.log", {KEY_ENV: KEY})
    try:
        wait_for(server.url, "/readyz", process=server.process)
        workers = [
            p
            for p in psutil.Process(server.process.pid).children(recursive=True)
            if "--worker-id" in _cmdline(p)
        ]
        assert len(workers) == 2, [_cmdline(p) for p in workers]
        slow = jpeg_dicom(tmp_path / "slow.dcm", 200, 1024, 1024)  # seconds to decode and measure
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _post(server, slow), range(8)))
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [200, 200, *[429] * 6], statuses
        refused = [(h, t) for status, h, t in answers if status == 429]
        assert all(h.get("retry-after") == "2" for h, _ in refused)
        assert max(t for _, t in refused) < min(t for status, _, t in answers if status == 200)
        assert server.process.poll() is None
    finally:
        stop_server(server)
