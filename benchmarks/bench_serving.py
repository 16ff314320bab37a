"""Serving speed, at the `small` preset (a forward pass of three clips costs well over 50 ms on a CPU) and
at `tiny`, each in one run against a real `echojepa serve` on 127.0.0.1:

- the whole predict path (decode + quality + clips + forward + heads) over HTTP versus the same
  `Predictor` path in-process, requests interleaved one at a time: p50, p99 and the p50 overhead ratio;
- the batchable clip endpoint: one-clip requests from 16 concurrent clients versus one client at a time,
  clips per second and the speed-up that adaptive batching gives, with one intra-op thread per forward
  (the serving default) and again with every core; beside them the in-process forward cost per clip at
  batch 1 and 16, the ceiling of any batching gain on this CPU.

The model is packaged untrained (speed does not depend on the weights) in a temporary store and ledger,
through the same helper the tests use (tests/packaged.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
# requests per measurement: fewer at small, where a video's forward pass takes seconds on 2 cores
PRESETS = {
    "tiny": {"predicts": 30, "sequential_clips": 40, "rounds": 8},
    "small": {"predicts": 12, "sequential_clips": 12, "rounds": 3},
}
CLIENTS = 16
# intra-op threads of the forward pass, the same in the server and in-process (serving.torch_threads): on a
# small shared CPU a second OpenMP thread stalls whenever another process holds the other core (3-clip tiny
# forwards swing from 60 ms to 1 s), which would measure the machine's neighbours rather than serving
TORCH_THREADS = 1


def _percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def serve_model(model, params: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`echojepa serve` of a packaged model on a free loopback port, ready (killed if it never gets ready)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--params", str(params)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=os.environ | model.env(params), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"the server did not become ready; see {log}")


def _clip_requests(url: str, clip: str, count: int, clients: int) -> float:
    """Seconds for `count` one-clip requests spread over `clients` concurrent clients."""

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as client:
            for _ in range(n):
                client.post("/encode_clips", json={"clips": [clip]}).raise_for_status()

    shares = [count // clients + (i < count % clients) for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, shares))
    return time.perf_counter() - started


def _forward_ms(predictor, clip: np.ndarray, batch: int, repeats: int = 3) -> float:
    """In-process encoder + heads milliseconds per clip at a batch size (median of `repeats`)."""
    clips = np.repeat(clip, batch, axis=0)
    predictor.encode(clips)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predictor.encode(clips)
        times.append((time.perf_counter() - started) * 1000.0 / batch)
    return round(float(np.median(times)), 1)


def _warm_up(url: str, clip: str) -> None:
    """Take the batcher through its training phases (single requests, then pairs, then triples)."""
    _clip_requests(url, clip, 10, 1)
    _clip_requests(url, clip, 2, 2)
    _clip_requests(url, clip, 3, 3)


def _predict_path(url: str, predictor, video: bytes, count: int) -> dict:
    """p50/p99 of `count` predictions in-process and over HTTP, interleaved so background load hits both."""
    local, remote = [], []
    with httpx.Client(base_url=url, timeout=600) as client:
        for i in range(count + 2):  # two warm-up rounds
            started = time.perf_counter()
            predictor.predict(video)
            elapsed_local = time.perf_counter() - started
            started = time.perf_counter()
            client.post("/predict", files={"video": ("v.avi", video)}).raise_for_status()
            if i >= 2:
                local.append(elapsed_local)
                remote.append(time.perf_counter() - started)
    in_process, http = _percentiles(local), _percentiles(remote)
    return {
        "requests": count, "predict_in_process": in_process, "predict_http": http,
        "http_over_in_process_p50": round(http["p50_ms"] / in_process["p50_ms"], 3),
    }  # fmt: skip


def _clip_throughput(url: str, clip: str, sequential_clips: int, rounds: int) -> dict:
    """One-clip requests: one client at a time, then CLIENTS concurrent clients."""
    sequential = sequential_clips / _clip_requests(url, clip, sequential_clips, 1)
    count = CLIENTS * rounds
    concurrent = count / _clip_requests(url, clip, count, CLIENTS)
    return {
        "sequential_clips_per_s": round(sequential, 2), "concurrent_clients": CLIENTS,
        "concurrent_clips_per_s": round(concurrent, 2), "speedup": round(concurrent / sequential, 2),
    }  # fmt: skip


def _measure(preset: str, predicts: int, sequential_clips: int, rounds: int) -> dict:
    """Both measurements with TORCH_THREADS, then the clip endpoint again with every core."""
    from serving.clips import encode_clip
    from serving.predictor import Predictor
    from tests.packaged import build_packaged_model, write_params

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-serving-{preset}-") as tmp:
        root = Path(tmp)
        model = build_packaged_model(root, n_videos=8, preset=preset, train=False)
        settings = model.settings()
        serving = settings.serving.model_copy(update={"torch_threads": TORCH_THREADS})
        predictor = Predictor(
            model.model_dir, replace(settings, serving=serving), model_version=model.model_version
        )
        video = model.clean[0].read_bytes()
        frames = predictor.clips(predictor.decode(video))[:1]
        clip = encode_clip(frames[0])
        for threads, key in ((TORCH_THREADS, "clip_endpoint"), (0, "clip_endpoint_all_cores")):
            serving = {
                "feast_push": "off",
                "reload_seconds": 0,
                "max_batch_size": 64,
                "torch_threads": threads,
            }
            params = write_params(root / f"bench{threads}.yaml", base=model.params, serving=serving)
            process, url = serve_model(model, params, root / f"server{threads}.log")
            try:
                _warm_up(url, clip)
                if threads == TORCH_THREADS:
                    out |= _predict_path(url, predictor, video, predicts)
                out[key] = _clip_throughput(url, clip, sequential_clips, rounds)
            finally:
                os.killpg(process.pid, signal.SIGINT)
                process.wait(timeout=120)
        # the ceiling of any batching gain on this CPU: the forward's cost per clip at batch 1 and 16
        out["forward_ms_per_clip"] = {str(b): _forward_ms(predictor, frames, b) for b in (1, 16)}
    return out


def run(presets: tuple[str, ...] = ("tiny", "small")) -> dict:
    """Both measurements at each preset; JSON-ready."""
    out: dict = {"cpus": os.cpu_count(), "torch_threads": TORCH_THREADS}
    out["load_average_before"] = round(os.getloadavg()[0], 2)
    for preset in presets:
        out[preset] = _measure(preset, **PRESETS[preset])
    out["targets"] = {"http_over_in_process_p50": 1.25, "clip_endpoint_speedup": 2.0, "preset": "small"}
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(tuple(sys.argv[1:]) or ("tiny", "small")), indent=2))
