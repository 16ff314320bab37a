"""Hostile uploads against a real `echojepa serve` with the default limits of params.yaml: decompression
bombs get 413 on their header, FFmpeg manifests 415, fast, and nothing they name is opened (a FIFO canary
that the server would block on, with positive controls showing the canary fires without the whitelist)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile_files import FifoCanary, ffconcat, hls_playlist, mjpeg_avi, rgb_rle_dicom
from tests.packaged import REPO, PackagedModel, write_params
from tests.serving.conftest import KEY, KEY_ENV, Server, curl, start_server, stop_server, wait_for
from tests.ultrasound.test_decode_budget import _opens_canary


@pytest.fixture(scope="module")
def default_server(
    packaged_model: PackagedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The packaged model served with params.yaml's own input limits (50 MB uploads, 300 MB decoded)."""
    root = tmp_path_factory.mktemp("default-server")
    params = write_params(
        root / "params.yaml", base=packaged_model.params,
        serving={"reload_seconds": 0, "api_key_env": KEY_ENV, "production_log": str(root / "production")},
    )  # fmt: skip
    running = start_server(packaged_model, params, root / "server.log", {KEY_ENV: KEY})
    wait_for(running.url, "/readyz", process=running.process)
    yield running
    stop_server(running)


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FifoCanary, str]]:
    """A FIFO under the server's working directory (the repository), and its name relative to it: an
    ffconcat `file` line must be relative and plain to pass FFmpeg's own `safe` check."""
    (REPO / "data").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="canary-", dir=REPO / "data"))
    fifo = FifoCanary(folder / "canary.ts")
    monkeypatch.chdir(REPO)  # the positive controls resolve the name as the server would
    yield fifo, fifo.path.relative_to(REPO).as_posix()
    shutil.rmtree(folder, ignore_errors=True)


def _post(server: Server, path: Path) -> tuple[int, object, float]:
    started = time.perf_counter()
    status, body = curl(server, "/predict", "-F", f"video=@{path}")
    return status, body, time.perf_counter() - started


def _one_sentence(body: object) -> str:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert "\n" not in error and error.count(". ") == 0 and len(error) < 240, error
    return error


def test_bombs_are_refused_413_before_decoding(default_server: Server, tmp_path: Path) -> None:
    avi = tmp_path / "bomb.avi"
    avi.write_bytes(mjpeg_avi(1000, 1024, 1024))
    dicom = rgb_rle_dicom(tmp_path / "bomb.dcm", 1000, 1024, 1024)
    for path, mb in ((avi, 1500), (dicom, 3000)):
        status, body, elapsed = _post(default_server, path)
        assert status == 413, body
        error = _one_sentence(body)
        assert f"take {mb} MB decoded, above the limit of 300 MB" in error
        assert elapsed < 5.0  # a 47 MB upload included; decoding 1000 megapixel frames takes > 7 s


def test_a_colour_cine_within_the_budget_is_answered(default_server: Server, tmp_path: Path) -> None:
    cine = tmp_path / "cine.avi"
    cine.write_bytes(mjpeg_avi(120, 708, 1016, pix_fmt="yuvj444p"))  # 259 MB decoded, RGB-like
    status, body, _ = _post(default_server, cine)
    assert status == 200, body
    assert body["quality"]["metrics"]["width"] == 1016 and body["quality"]["metrics"]["frame_count"] == 120


def test_manifests_get_415_and_open_nothing(default_server: Server, canary, tmp_path: Path) -> None:
    fifo, name = canary
    uploads = {"list.ffconcat": ffconcat(name), "concat.avi": ffconcat(name), "list.m3u8": hls_playlist(name)}
    for filename, content in uploads.items():
        path = tmp_path / filename
        path.write_bytes(content)
        status, body, elapsed = _post(default_server, path)
        assert status == 415 and elapsed < 1.0, (filename, status, body, elapsed)
        assert "send an AVI, MP4 or multi-frame DICOM video" in _one_sentence(body)
        assert not fifo.opened(), filename
    assert wait_for(default_server.url, "/healthz").status_code == 200  # no worker is blocked on the FIFO
    # positive controls: FFmpeg's own probing (the whitelist off) opens the FIFO from the same bytes
    # (ffconcat) and from the playlist as a file (HLS resolves its segments against the playlist's path)
    assert _opens_canary(ffconcat(name), fifo, None)
    playlist = fifo.path.parent / "list.m3u8"
    playlist.write_bytes(hls_playlist(fifo.path.name))
    assert _opens_canary(playlist, fifo, None)
