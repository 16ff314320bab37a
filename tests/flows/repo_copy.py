"""A fresh copy of the repository (what git would hand a fresh clone) on a miniature of the tiny preset, and
the tools the whole-pipeline tests run in it: `dvc` with an audit hook in every Python process (who opens
params.yaml), `echojepa serve` in the copy, and a release through the signed ledger as the retrain flow
registers it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MINIATURE = {
    "simulate": {
        "datasets": {
            "synthetic": {"n_videos": 24, "seed": 3, "cohort": "adult"},
            "synthetic-pediatric": {"n_videos": 6, "seed": 1, "cohort": "pediatric"},
        }
    },
    "data": {"batch_size": 2},
    "optimization": {"steps": 4, "warmup": 1, "checkpoint_every": 2},
    "probe": {"epochs": 2, "fractions": [1.0], "seeds": [0, 1], "clips_per_video": 1},
    "evaluate": {"severities": ["high"]},
}
# Installed through PYTHONPATH into every Python process of the run (dvc, each stage, the service): each
# open of a file named params.yaml is logged with the first module of this project on the call stack.
AUDIT = r"""
import json, os, sys
PROJECT = {"config", "ultrasound", "ingest", "data_contracts", "features", "model", "evaluation",
           "experiments", "release", "serving", "monitoring", "flows", "demo", "benchmarks"}
LOG = os.environ["ECHOJEPA_PARAMS_AUDIT"]

def hook(event, args):
    if event != "open" or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    if os.path.basename(os.fsdecode(args[0])) != "params.yaml":
        return
    frame, reader = sys._getframe(1), None
    while frame is not None and reader is None:
        name = frame.f_globals.get("__name__", "")
        reader = name if name.split(".")[0] in PROJECT else None
        frame = frame.f_back
    with open(LOG, "a") as out:
        out.write(json.dumps({"reader": reader, "argv": " ".join(sys.argv[:4])}) + "\n")

sys.addaudithook(hook)
"""


def fresh_copy(dest: Path, changes: dict | None = None) -> Path:
    """The files git would hand a fresh clone (tracked + untracked, not ignored), in a new git repo, with
    params.yaml on the miniature and `changes` ({section: {key: value}}) on top."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for rel in listed:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for changed in (MINIATURE, changes or {}):
        for section, values in changed.items():
            params[section].update(values)
    params["release"]["witness_dir"] = str(dest.parent / "witness")  # outside the copy, as it must be
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def audited_env(repo: Path) -> dict[str, str]:
    """The environment of the run: the venv's bin first, the params.yaml audit hook in every process."""
    hook = repo.parent / "audit"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(AUDIT)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": path, "ECHOJEPA_PARAMS_AUDIT": str(repo.parent / "params-opens.jsonl"),
        "BENTOML_HOME": str(repo / "models/bentoml"),  # the copy's own store, paired with its ledger
    }  # fmt: skip


def readers(repo: Path) -> list[dict]:
    log = repo.parent / "params-opens.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def dvc(repo: Path, *args: str) -> str:
    env = audited_env(repo)
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w@-]+)'", log))


def skipped(log: str) -> set[str]:
    return set(re.findall(r"Stage '([\w@-]+)' didn't change, skipping", log))


@contextlib.contextmanager
def serving(repo: Path) -> Iterator:
    """`echojepa serve` run in the copy (its relative ledger and model store), ready; stopped afterwards."""
    from tests.serving.conftest import Server, free_port, stop_server, wait_for

    port, log = free_port(), repo.parent / "serve.log"
    env = audited_env(repo) | {
        "BENTOML_DO_NOT_TRACK": "True", "ECHOJEPA_DEID_SALT": "pipeline-test-salt-0123456789abcdef",
    }  # fmt: skip
    command = [sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--params", "params.yaml"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, repo / "params.yaml", repo, None)
    try:
        try:
            wait_for(server.url, "/readyz", process=process)
        except Exception:
            raise AssertionError(
                f"the service did not get ready; its log:\n{log.read_text()[-3000:]}"
            ) from None
        yield server
    finally:
        stop_server(server)


def serve_readyz(repo: Path) -> dict:
    """The service's /readyz answer, started in the copy."""
    import httpx

    with serving(repo) as server:
        return httpx.get(f"{server.url}/readyz", timeout=30).json()


def released(repo: Path):
    """The copy's release settings with an absolute ledger path (the test runs elsewhere)."""
    from config.params import load_params

    release = load_params(repo / "params.yaml").release
    return release.model_copy(update={"ledger": repo / release.ledger})


def release(repo: Path) -> str:
    """Register the pipeline's candidate with exactly the files the retrain flow registers, waive its
    blocking gates and approve it as a second principal, package it; returns the BentoML tag."""
    from release.decisions import record_decision, register_candidate, sign_decision, start_ledger
    from release.ledger import open_ledger
    from release.manifest import run_files
    from release.package import package_candidate
    from serving.config import load_serving_settings
    from serving.smoke import servable_check
    from tests.packaged import bento_store, signing_keys

    run, reports = repo / "models/jepa-tiny", repo / "reports"
    evaluation = json.loads((reports / "evaluation.json").read_text())
    keys = signing_keys(repo.parent / "keys")
    extra = {"evaluation.json": reports / "evaluation.json", "reference.parquet": run / "reference.parquet",
             "model_card.html": reports / "model_card.html"}  # fmt: skip
    with bento_store(repo / "models/bentoml"):  # every append checks this store's heads
        ledger = open_ledger(released(repo))
        start_ledger(ledger, keys["dana"], (repo.parent / "keys" / "allowed_signers").read_text())
        candidate = register_candidate(
            ledger, signer=keys["alice"], files=run_files(run, **extra),
            model_version=evaluation["model_version"], data_version=evaluation["data_version"],
            git_commit="test", gates=evaluation["gates"], metrics=evaluation["metrics"], params={},
        )  # fmt: skip
        blocking = [g["name"] for g in evaluation["gates"] if g["blocks"]]  # a 4-step model fails some
        if blocking:
            waiver = sign_decision(
                ledger, keys["bob"], "waive", candidate, reason="pipeline test", gates=blocking
            )
            record_decision(ledger, waiver, signer=keys["alice"])
        record_decision(
            ledger, sign_decision(ledger, keys["bob"], "approve", candidate), signer=keys["alice"]
        )
        check = servable_check(load_serving_settings(repo / "params.yaml"))  # as the retrain flow packages
        return package_candidate(ledger, candidate, signer=keys["alice"], check=check)
