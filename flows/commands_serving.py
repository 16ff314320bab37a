"""Serving command: `echojepa serve` runs the BentoML service (serving.service) on this machine."""

from __future__ import annotations

from pathlib import Path

from config import PARAMS_FILE
from flows.app import app

SERVICE = "serving.service:EchoJEPA"


@app.command
def serve(
    *,
    port: int | None = None,
    host: str | None = None,
    params: Path = PARAMS_FILE,
) -> None:
    """Serve the production model over HTTP: POST /predict, /embed, /encode_clips; /healthz, /readyz,
    /metrics and the OpenAPI docs at /docs. Runs `bentoml serve` until Ctrl-C.

    Production is what the release ledger names (release.ledger). Without a released model the service
    still starts: /readyz answers 503 saying how to release one, and a model released later is picked up
    within serving.reload_seconds. With the environment variable named by serving.api_key_env set
    (default ECHOJEPA_API_KEY), the API routes need `Authorization: Bearer KEY`.

    Parameters
    ----------
    port
        TCP port (default serving.port).
    host
        Interface to listen on (default serving.host: 127.0.0.1 in params.yaml, this machine only).
    params
        Parameter file (sections serving, release, features, ingest).
    """
    import os
    import sys

    from serving.config import load_serving_settings

    settings = load_serving_settings(params)  # a bad key fails here, in one line, not in the worker
    host = host or settings.serving.host
    port = port or settings.serving.port
    env = os.environ | {"ECHOJEPA_PARAMS": str(params.resolve())}
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")  # no usage reports from a clinical service
    # serving.bento_cli is `bentoml` with a metrics folder per server (BentoML empties one shared folder
    # whenever any server starts, wiping a running service's counters)
    command = [
        sys.executable,
        "-m",
        "serving.bento_cli",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
    ]
    print(f"serving {SERVICE} on http://{host}:{port} (docs at /docs); Ctrl-C stops it", flush=True)
    # exec, not a child: SIGTERM / SIGINT from a supervisor (or the demo) reach bentoml directly, which
    # then stops its workers and runs their shutdown hooks (the last production-log flush, Feast pushes)
    os.execvpe(sys.executable, command, env)
