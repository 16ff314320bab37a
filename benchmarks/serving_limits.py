"""Serving under hostile and worst-case uploads, against a real `echojepa serve` on 127.0.0.1 with the
default limits of params.yaml (the tiny model, packaged untrained: memory and refusal times do not depend
on the weights):

- the peak RSS of the worker (its kernel high-water mark, /proc/PID/status VmHWM, so no spike is missed
  between samples) over the worst *accepted* uploads: 300 grey 1024x1024 JPEG frames in a DICOM (300 MB
  decoded, the largest grey output the budget allows), 200 frames of a 1024x1024 MJPEG AVI, a 120-frame
  1016x708 colour cine; target below 1.5 GB;
- the time to refuse each bomb (413) and the memory it costs: a 1000-frame 1024x1024 MJPEG AVI, a
  1000-frame 1024x1024 RGB RLE DICOM, 400 grey 1024x1024 frames;
- 50 concurrent worst-case accepted uploads: the answers by status, the peak RSS, whether the server lived.

    python -m benchmarks.serving_limits            # JSON on stdout
    python -m benchmarks serving_limits            # also into reports/benchmarks/
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from benchmarks.bench_serving import serve_model

REPO = Path(__file__).resolve().parents[1]
CONCURRENT = 50
TARGET_PEAK_MB = 1536


def _worker(process: subprocess.Popen) -> psutil.Process:
    """The BentoML worker process (the one that loaded the model: the largest RSS)."""
    children = psutil.Process(process.pid).children(recursive=True)
    return max(children, key=lambda p: p.memory_info().rss)


def _status_mb(proc: psutil.Process, key: str) -> float:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise KeyError(key)


def _post(url: str, path: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    with path.open("rb") as fh:
        response = httpx.post(url + "/predict", files={"video": (path.name, fh)}, timeout=300)
    body = response.json()
    return response.status_code, round(time.perf_counter() - started, 3), body.get("error", "")


def _uploads(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    from tests.hostile_files import jpeg_dicom, mjpeg_avi, rgb_rle_dicom

    def avi(name: str, data: bytes) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    accepted = {
        "grey_dicom_300x1024x1024": jpeg_dicom(folder / "grey300.dcm", 300, 1024, 1024),
        "mjpeg_avi_200x1024x1024": avi("mjpeg200.avi", mjpeg_avi(200, 1024, 1024)),
        "colour_cine_120x1016x708": avi("cine.avi", mjpeg_avi(120, 708, 1016, pix_fmt="yuvj444p")),
    }
    bombs = {
        "mjpeg_avi_1000x1024x1024": avi("bomb.avi", mjpeg_avi(1000, 1024, 1024)),
        "rgb_rle_dicom_1000x1024x1024": rgb_rle_dicom(folder / "bomb.dcm", 1000, 1024, 1024),
        "grey_dicom_400x1024x1024": rgb_rle_dicom(folder / "grey400.dcm", 400, 1024, 1024, values=(80,)),
    }
    return accepted, bombs


def _measure(root: Path) -> dict:
    from tests.packaged import build_packaged_model, write_params

    model = build_packaged_model(root, n_videos=8, preset="tiny", train=False)
    params = write_params(
        root / "bench.yaml", base=model.params, serving={"feast_push": "off", "reload_seconds": 0}
    )
    accepted, bombs = _uploads(root)
    process, url = serve_model(model, params, root / "server.log")
    out: dict = {}
    try:
        worker = _worker(process)
        assert _post(url, model.clean[0])[0] == 200  # warm: the first request imports and allocates
        out["baseline_rss_mb"] = _status_mb(worker, "VmRSS")
        out["baseline_peak_rss_mb"] = _status_mb(worker, "VmHWM")
        out["accepted"] = {}
        for name, path in accepted.items():
            status, seconds, error = _post(url, path)
            out["accepted"][name] = {
                "status": status, "seconds": seconds, "file_mb": round(path.stat().st_size / 2**20, 1),
                "peak_rss_mb_so_far": _status_mb(worker, "VmHWM"), **({"error": error} if error else {}),
            }  # fmt: skip
        out["peak_rss_mb_worst_accepted"] = _status_mb(worker, "VmHWM")
        out["bombs"] = {}
        for name, path in bombs.items():
            status, seconds, error = _post(url, path)
            out["bombs"][name] = {
                "status": status, "seconds_to_refuse": seconds, "error": error,
                "file_mb": round(path.stat().st_size / 2**20, 1),
            }  # fmt: skip
        out["peak_rss_mb_after_bombs"] = _status_mb(worker, "VmHWM")
        worst = accepted["grey_dicom_300x1024x1024"]
        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            answers = list(pool.map(lambda _: _post(url, worst), range(CONCURRENT)))
        out["concurrent"] = {
            "uploads": CONCURRENT,
            "statuses": dict(Counter(str(status) for status, _, _ in answers)),
            "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mb": _status_mb(worker, "VmHWM"),
            "server_alive": process.poll() is None and worker.is_running(),
        }
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
    return out


def run() -> dict:
    """The measurements, JSON-ready, with the limits they ran under."""
    from tests.configs import section

    serving = section("serving")
    out: dict = {
        "cpus": os.cpu_count(), "load_average_before": round(os.getloadavg()[0], 2),
        "limits": {
            "max_upload_mb": serving.max_upload_mb, "max_decoded_mb": serving.max_decoded_mb,
            "max_frames": serving.max_frames, "max_in_flight": serving.max_in_flight,
        },
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-serving-limits-") as tmp:
        out |= _measure(Path(tmp))
    out["targets"] = {"peak_rss_mb_worst_accepted": TARGET_PEAK_MB, "seconds_to_refuse": 1.0}
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
