"""`evidently ui` serves the monitoring project: its dashboard API lists our panels with data, and headless
Chromium (Debian's package, installed here when missing) renders them; the screenshot goes to
reports/monitoring/dashboard.png."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from monitoring.dashboard import panels
from tests.monitoring.conftest import LABEL_ERROR, config_under

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "reports" / "monitoring" / "dashboard.png"


def chromium() -> str:
    """Path of Debian's chromium, apt-get installing it when missing (skips only if that fails)."""
    found = shutil.which("chromium")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=600, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"], check=True, capture_output=True, timeout=900, env=env
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"chromium is not installed and `apt-get install chromium` failed: {exc}")
    return shutil.which("chromium") or pytest.skip("apt-get installed chromium but it is not on PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui(two_runs) -> Iterator[tuple[str, str]]:
    """`evidently ui` on the two-run workspace; yields (base URL, project id)."""
    root, (clean, _) = two_runs
    port = free_port()
    command = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(root / "workspace")]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{url}/api/projects", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"evidently ui did not answer on {url} (exit code {server.poll()})")
            time.sleep(0.5)
        yield url, clean.project_id
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_dashboard_api_lists_the_panels_with_two_runs_of_data(ui, two_runs) -> None:
    url, project_id = ui
    root, (clean, degraded) = two_runs
    dashboard = httpx.get(f"{url}/api/v2/dashboards/{project_id}", timeout=10).json()
    assert [p["title"] for p in dashboard["panels"]] == [p.title for p in panels(config_under(root))]
    # every panel's series, as the UI asks for them: one value per run, except the counters' last value
    for panel in dashboard["panels"]:
        asked = [{k: v[k] for k in ("tags", "metadata", "metric", "metric_labels")} for v in panel["values"]]
        series = httpx.post(
            f"{url}/api/v2/snapshots/{project_id}/data_series_batch",
            json={"series_filter": asked},
            timeout=10,
        ).json()["series"]
        assert series and all(len(s["values"]) == 2 for s in series), panel["title"]
        if panel["title"] == "Drift share of image-quality metrics":
            expected = [clean.drift.quality_share, degraded.drift.quality_share]
            assert series[0]["values"] == pytest.approx(expected)
        if panel["title"] == "Delayed-label EF MAE":
            assert series[0]["values"] == pytest.approx([LABEL_ERROR, LABEL_ERROR], abs=1e-4)


def test_headless_chromium_renders_the_dashboard(ui) -> None:
    from PIL import Image

    url, project_id = ui
    browser = chromium()
    page = f"{url}/projects/{project_id}"
    flags = [
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--window-size=1400,3600",
        "--virtual-time-budget=20000",
    ]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    subprocess.run([browser, *flags, f"--screenshot={SCREENSHOT}", page], capture_output=True, timeout=120)
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120
    ).stdout
    for title in ("Drift share of image-quality metrics", "Quality warnings by cause", "Mean predicted EF"):
        assert title in dom
    image = np.asarray(Image.open(SCREENSHOT).convert("RGB"))
    assert image.shape[:2] == (3600, 1400)
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # drawn, not blank
