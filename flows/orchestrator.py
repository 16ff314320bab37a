"""The local orchestrator: a Prefect server on 127.0.0.1 and the deployments of prefect.yaml, served.

`echojepa orchestrator up` reuses the API at PREFECT_API_URL (or http://127.0.0.1:4200/api) when it
answers, otherwise starts `prefect server start` (SQLite under PREFECT_HOME) and waits for it; then it
builds one deployment per prefect.yaml entry with `flow.to_deployment` (same schedules, triggers,
parameters, concurrency limit) and serves them all with `prefect.serve`, which runs their flow runs as
subprocesses of this process. Ctrl-C stops serving (and the server, if this command started it).

The same `deployments_from_yaml` builds what tests apply to prefect_test_harness, so the YAML is what
is tested.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_API = "http://127.0.0.1:4200/api"


def deployments_from_yaml(path: Path = Path("prefect.yaml")) -> list:
    """One RunnerDeployment per `deployments:` entry of prefect.yaml.

    Raises:
        ValueError: the file or an entry is malformed, or an entrypoint file does not exist (names the
            deployment and the key).
    """
    import yaml
    from prefect.flows import load_flow_from_entrypoint

    if not Path(path).is_file():
        raise ValueError(f"{path}: not found (run from the repository root)")
    entries = (yaml.safe_load(Path(path).read_text()) or {}).get("deployments") or []
    built = []
    for entry in entries:
        name, entrypoint = entry.get("name"), entry.get("entrypoint", "")
        if not name or ":" not in entrypoint:
            raise ValueError(f"{path}: every deployment needs a name and an entrypoint file.py:flow")
        if not Path(entrypoint.partition(":")[0]).is_file():
            raise ValueError(f"{path}: deployment {name}: {entrypoint} does not exist")
        flow = load_flow_from_entrypoint(entrypoint)
        built.append(flow.to_deployment(**_deployment_kwargs(entry, path)))
    return built


def _deployment_kwargs(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    """prefect.yaml's keys as `Flow.to_deployment` arguments."""
    from prefect.events import DeploymentTriggerTypes
    from prefect.schedules import Cron, Interval
    from pydantic import TypeAdapter, ValidationError

    name = entry["name"]
    schedules = []
    for spec in entry.get("schedules") or []:
        common = {"timezone": spec.get("timezone"), "active": spec.get("active", True)}
        if "cron" in spec:
            schedules.append(Cron(spec["cron"], **common))
        elif "interval" in spec:
            schedules.append(Interval(spec["interval"], **common))
        else:
            raise ValueError(f"{path}: deployment {name}: a schedule needs cron or interval")
    try:
        triggers = [
            TypeAdapter(DeploymentTriggerTypes).validate_python(t) for t in entry.get("triggers") or []
        ]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: deployment {name}: triggers: {where}: {first['msg']}") from None
    limit = entry.get("concurrency_limit")
    return {
        "name": name,
        "description": entry.get("description"),
        "parameters": entry.get("parameters") or {},
        "tags": entry.get("tags") or [],
        "schedules": schedules,
        "triggers": triggers,
        "concurrency_limit": limit.get("limit") if isinstance(limit, dict) else limit,
    }


def api_url() -> str:
    """PREFECT_API_URL when set, else the local server's default address."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or DEFAULT_API


def api_ready(url: str) -> bool:
    """Does a Prefect API answer its health check at `url`?"""
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_server(url: str, timeout_s: float = 90.0) -> subprocess.Popen:
    """`prefect server start` on the host and port of `url` (127.0.0.1 only); waits until it answers."""
    from urllib.parse import urlparse

    where = urlparse(url)
    if where.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"PREFECT_API_URL={url}: not answering, and only a local server can be started here")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cmd = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(where.port or 4200),
    ]
    # the server's log goes to a file: a pipe nobody reads would block a long-running server once full
    log = Path(tempfile.gettempdir()) / f"echojepa-prefect-server-{where.port or 4200}.log"
    with log.open("w") as out:
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=out, text=True)
    deadline = time.monotonic() + timeout_s
    while not api_ready(url):
        if server.poll() is not None:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise OSError(f"prefect server start exited with {server.returncode}: {last[0]} (log: {log})")
        if time.monotonic() > deadline:
            server.terminate()
            raise OSError(f"prefect server did not answer at {url} within {timeout_s:.0f} s")
        time.sleep(0.5)
    return server


def up(prefect_yaml: Path = Path("prefect.yaml")) -> None:
    """Start or reuse the local server, then serve the deployments of prefect.yaml (blocks)."""
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = api_url()
    server = None
    if api_ready(url):
        print(f"using the Prefect API at {url}")
    else:
        print(f"starting a Prefect server at {url} …")
        server = start_server(url)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            deployments = deployments_from_yaml(prefect_yaml)
            if not deployments:
                raise ValueError(f"{prefect_yaml}: no deployment can be served")
            names = ", ".join(d.name for d in deployments)
            print(f"serving {names}; UI at {url.removesuffix('/api')} (Ctrl-C stops)")
            serve(*deployments)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
