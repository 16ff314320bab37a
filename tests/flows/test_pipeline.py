"""`dvc repro` of the whole DAG (simulate → validate → prepare → pretrain → embed → features → probe →
evaluate) in a fresh copy of the repository, on a miniature of the tiny preset: it runs end to end, leaves
`dvc status` clean, exposes metrics and plots, and a param change reruns only the stages that read it.

The same run proves the structure's two promises: params.yaml is read by one module only (an audit hook in
every Python process of the run records who opens it), and the probes gated in evaluation.json are byte for
byte the probes packaged into the BentoML model and the ones the running service loads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model.probe_artifact import ProbeArtifact

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


def fresh_copy(dest: Path) -> Path:
    """The files git would hand a fresh clone (tracked + untracked, not ignored), in a new git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for rel in listed:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for section, values in MINIATURE.items():
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


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = fresh_copy(tmp_path_factory.mktemp("clone"))
    return repo, dvc(repo, "repro")


def test_repro_runs_every_stage_and_leaves_status_clean(reproduced: tuple[Path, str]) -> None:
    repo, log = reproduced
    stages = {
        "simulate@synthetic",
        "simulate@synthetic-pediatric",
        "validate",
        "prepare",
        "pretrain",
        "embed",
    }
    stages |= {"features"}
    assert ran(log) == stages | {"probe", "evaluate"}
    assert "up to date" in dvc(repo, "status")
    summary = json.loads((repo / "reports/validation/synthetic/summary.json").read_text())
    assert summary["rows_in"] == 24 == summary["accepted"] + summary["quarantined"]
    probes = json.loads((repo / "reports/probes/metrics.json").read_text())
    assert probes["label_source"] == "feast"
    ef = probes["tasks"]["ef"]["by_fraction"]["1"]
    assert 0 < ef["mae"]["mean"] < 60  # EF points: a real number from a real (tiny) probe
    saved = ProbeArtifact.load(repo / "models/jepa-tiny/probes/ef/seed-0.pt")
    assert saved.spec.time_steps == 8  # temporal-contrast input over the tiny encoder's 8 token time steps
    assert saved.module is not None  # rebuilt from its spec, weights loaded strictly
    assert 20 < saved.target_mean < 80 and saved.target_std > 0
    served = sorted(p.name for p in (repo / "models/jepa-tiny/probes/ef").glob("*.pt"))
    assert served == ["seed-0.pt", "seed-1.pt"]  # both seeds are served, as an ensemble
    evaluation = json.loads((repo / "reports/evaluation.json").read_text())
    assert {g["name"] for g in evaluation["gates"]} >= {
        "ef_mae_margin_over_random_init",
        "no_regression_ef_mae",
    }
    assert evaluation["data_version"].startswith("data-")  # from dvc.lock's validate/prepare deps
    assert (repo / "reports/model_card.html").stat().st_size > 10_000  # plots embedded


def test_metrics_and_plots_are_declared(reproduced: tuple[Path, str]) -> None:
    repo, _ = reproduced
    metrics = json.loads(dvc(repo, "metrics", "show", "--json"))
    files = next(iter(metrics.values()))["data"]
    assert {"reports/probes/metrics.json", "models/jepa-tiny/metrics.json", "reports/evaluation.json"} <= set(
        files
    )
    dvc(repo, "plots", "show", "--out", "plots")
    html = (repo / "plots" / "index.html").read_text()
    assert "loss.csv" in html and "predictions_ef" in html


def _serve_readyz(repo: Path) -> dict:
    """`echojepa serve` run in the copy (its relative ledger and model store), answering /readyz."""
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
        return wait_for(server.url, "/readyz", process=process).json()
    except Exception:
        raise AssertionError(f"the service did not get ready; its log:\n{log.read_text()[-3000:]}") from None
    finally:
        stop_server(server)


def _released(repo: Path):
    """The copy's release settings with an absolute ledger path (the test runs elsewhere)."""
    from config.params import load_params

    release = load_params(repo / "params.yaml").release
    return release.model_copy(update={"ledger": repo / release.ledger})


def _release(repo: Path) -> str:
    """Register the pipeline's candidate with exactly the files the retrain flow registers, waive its
    blocking gates and approve it as a second principal, package it; returns the BentoML tag."""
    from release.decisions import record_decision, register_candidate, sign_decision, start_ledger
    from release.ledger import open_ledger
    from release.manifest import run_files
    from release.package import package_candidate
    from tests.packaged import bento_store, signing_keys

    run, reports = repo / "models/jepa-tiny", repo / "reports"
    evaluation = json.loads((reports / "evaluation.json").read_text())
    keys = signing_keys(repo.parent / "keys")
    extra = {"evaluation.json": reports / "evaluation.json", "reference.parquet": run / "reference.parquet",
             "model_card.html": reports / "model_card.html"}  # fmt: skip
    with bento_store(repo / "models/bentoml"):  # every append checks this store's heads
        ledger = open_ledger(_released(repo))
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
        return package_candidate(ledger, candidate, signer=keys["alice"])


def test_gated_probes_are_packaged_and_served_byte_for_byte(reproduced: tuple[Path, str]) -> None:
    from evaluation.results import value_of
    from monitoring.data import production_reference
    from release.ledger import sha256_file
    from tests.packaged import bento_store

    repo, _ = reproduced
    gated = json.loads((repo / "reports/evaluation.json").read_text())["probes"]
    assert set(gated) == {f"{t}/seed-{s}.pt" for t in ("ef", "view") for s in (0, 1)}
    tag = _release(repo)
    with bento_store(repo / "models/bentoml"):
        import bentoml

        packaged_dir = Path(bentoml.models.get(tag).path)
        packaged = {n: sha256_file(packaged_dir / "probes" / n) for n in gated}
        reference = production_reference(_released(repo))
    assert packaged == gated
    ready = _serve_readyz(repo)
    assert ready["probes"] == gated  # the bytes the service loaded are the bytes that were gated
    # monitoring's delayed-label baseline is the EF MAE of the served model's own packaged evaluation
    packaged_evaluation = json.loads((packaged_dir / "evaluation.json").read_text())
    assert reference.evaluated_ef_mae == value_of(packaged_evaluation["metrics"]["ef_mae"])
    assert reference.model_version == packaged_evaluation["model_version"]


def test_params_yaml_has_one_reader(reproduced: tuple[Path, str]) -> None:
    """validate, pretrain, embed, probe, evaluate (the repro above) and the service's start-up (the test
    above) opened params.yaml only through config.params; a second reader would show up by name."""
    repo, _ = reproduced
    opens = readers(repo)
    seen = " ".join(o["argv"] for o in opens if o["reader"])
    for stage in ("validate", "pretrain", "evaluate", "probe"):
        assert stage in seen, f"the audit saw no `echojepa {stage}` reading params.yaml"
    assert any("bentoml" in o["argv"] or "serve" in o["argv"] for o in opens if o["reader"])
    assert {o["reader"] for o in opens if o["reader"]} == {"config.params"}
    # positive control: a module that opens params.yaml itself is caught and named
    control = "import ultrasound.echonet as m; exec(\"open('params.yaml').read()\", m.__dict__)"
    subprocess.run([sys.executable, "-c", control], cwd=repo, env=audited_env(repo), check=True)
    assert readers(repo)[-1]["reader"] == "ultrasound.echonet"


def test_a_param_change_reruns_only_dependent_stages(reproduced: tuple[Path, str]) -> None:
    repo, _ = reproduced
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["optimization"]["lr"] = 0.0005
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = dvc(repo, "repro")
    assert {"simulate@synthetic", "validate", "prepare"} <= skipped(log)
    assert "pretrain" in ran(log) and not ({"simulate@synthetic", "validate", "prepare"} & ran(log))
