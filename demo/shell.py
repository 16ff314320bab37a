"""The command lines the demo runs as a person would type them: `dvc repro`, `echojepa ...`.

They run as subprocesses of this interpreter's environment, so the demo exercises the real entry points
(argument parsing, one-line errors, exit codes) rather than the functions behind them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def echojepa(*args: str) -> list[str]:
    """The command line of `echojepa ARGS` in this interpreter's environment."""
    return [sys.executable, "-m", "flows.cli", *args]


def env_with(**extra: str) -> dict[str, str]:
    """This process's environment with the venv's bin/ first on PATH (dvc stages call `echojepa`)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **extra}


def repro(console) -> float:
    """`dvc repro`: every pipeline stage whose inputs changed runs, the rest is reused; its wall time."""
    if not Path("dvc.yaml").is_file():
        raise ValueError("dvc.yaml not found: run the demo from the repository root")
    start = time.perf_counter()
    console.print("[bold]pipeline[/] dvc repro (stages whose inputs are unchanged are reused)")
    done = subprocess.run([sys.executable, "-m", "dvc", "repro"], env=env_with())
    if done.returncode != 0:
        raise ValueError("dvc repro failed (see the stage output above)")
    return time.perf_counter() - start


def secrets_init(console, params_file: Path) -> None:
    """`echojepa secrets init`: the deployment's de-identification salt (kept when it exists)."""
    done = subprocess.run(echojepa("secrets", "init", "--params", str(params_file)), env=env_with(),
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise ValueError(done.stderr.strip() or "echojepa secrets init failed")
    console.print(f"[bold]secrets[/] {done.stdout.strip()}")


def _run_results(reports: Path) -> set[Path]:
    return set(reports.glob("*/result.json"))


def monitor(console, api: str, params_file: Path, reports: Path, since: str, until: str) -> dict:
    """`echojepa monitor` over one window, as an operator would run it; the result.json it wrote.

    Args:
        api: the Prefect API the monitor flow reports to (and emits its drift event on).
        params_file: the parameter file the command reads.
        reports: monitoring.reports of that file: one folder per run, each with a result.json.
    Raises:
        ValueError: the command failed, skipped the window (too few rows) or wrote no result.
    """
    before = _run_results(reports)
    command = echojepa("monitor", "--since", since, "--until", until, "--params", str(params_file))
    done = subprocess.run(command, env=env_with(PREFECT_API_URL=api), capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    for line in lines[-4:]:
        console.print(f"  {line}")
    if done.returncode != 0:
        raise ValueError(f"echojepa monitor failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    # the run's own folder is the one that is new since the command started (its id is a fresh uuid)
    new = sorted(_run_results(reports) - before, key=lambda p: p.stat().st_mtime)
    if "monitor: skipped" in done.stdout or not new:
        raise ValueError(f"echojepa monitor {since} → {until} produced no result (see its output above)")
    return json.loads(new[-1].read_text())
