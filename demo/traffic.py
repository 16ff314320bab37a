"""The demo's production half: `echojepa serve` on 127.0.0.1, clean then degraded traffic over HTTP.

Clean traffic is the held-out TEST videos as they are; degraded traffic is the same videos with one
acoustic perturbation at 'high' (the kind a failing probe or a wrong gain setting would cause), so the
monitoring that follows has a known answer to find.
"""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from demo.shell import echojepa, env_with

DEGRADATION = "gain_drift"  # what the demo's degraded traffic suffers from
READY_WAIT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(console, params_file: Path, log: Path):
    """`echojepa serve` on a free port; yields its base URL once /readyz answers 200; stops it after.
    The service's output goes to `log`."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        server = subprocess.Popen(
            echojepa("serve", "--port", str(port), "--params", str(params_file)),
            env=env_with(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + READY_WAIT_S
            while True:
                if server.poll() is not None:
                    raise ValueError(f"echojepa serve exited with {server.returncode}; see {log}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise ValueError(
                        f"the service did not become ready within {READY_WAIT_S:.0f} s; see {log}"
                    )
                time.sleep(1.0)
            console.print(f"[bold]serve[/] {url} ready (docs: {url}/docs, log: {log})")
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def held_out_videos(dataset: Path, count: int) -> list[Path]:
    """Up to `count` TEST videos of the dataset (the model never trained on them), in manifest order."""
    import pandas as pd

    from ultrasound.echonet import file_list, video_file

    table = pd.read_csv(file_list(dataset))
    names = table[table.Split.astype(str).str.upper() == "TEST"].FileName.astype(str).tolist()[:count]
    if not names:
        raise ValueError(f"{file_list(dataset)}: no TEST videos to send")
    return [video_file(dataset, name) for name in names]


def degrade(videos: list[Path], out: Path, kind: str = DEGRADATION) -> list[Path]:
    """The same videos with `kind` at 'high' (written once, reused on a re-run)."""
    import numpy as np

    from ultrasound.perturbations import perturb
    from ultrasound.video_io import read_video, write_avi

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, path in enumerate(videos):
        target = out / f"{path.stem}_{kind}.avi"
        if not target.is_file():
            clip = read_video(path)
            frames = perturb(clip.frames, kind, "high", np.random.default_rng(i))
            write_avi(target, frames, clip.fps)
        paths.append(target)
    return paths


def send(url: str, videos: list[Path], name: str) -> dict:
    """POST each video to /predict (4 at a time, as a clinic's systems would), with a progress bar; counts
    and warnings."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from flows.progress import progress_bar

    done, lock = [0], threading.Lock()

    def one(path: Path) -> dict:
        answer = client.post(f"{url}/predict", files={"video": (path.name, path.read_bytes())})
        with lock:
            done[0] += 1
            advance(done[0], len(videos))
        return {"status": answer.status_code, "body": answer.json()}

    # one client (thread-safe, a shared connection pool) for every upload
    with (
        progress_bar(f"traffic: {name}", len(videos)) as advance,
        httpx.Client(timeout=120.0) as client,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        answers = list(pool.map(one, videos))
    ok = [a["body"] for a in answers if a["status"] == 200]
    warned = [b for b in ok if b.get("quality", {}).get("warnings")]
    return {
        "sent": len(videos),
        "ok": len(ok),
        "errors": [a for a in answers if a["status"] != 200][:3],
        "warned": len(warned),
        "mean_ef": sum(b["ef"] for b in ok) / max(1, len(ok)),
        "first_warning": warned[0]["quality"]["warnings"][0] if warned else None,
    }
