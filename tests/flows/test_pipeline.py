"""`dvc repro` of the whole DAG (simulate → validate → prepare → pretrain → embed → features → probe →
evaluate) in a fresh copy of the repository, on a miniature of the tiny preset: it runs end to end, leaves
`dvc status` clean, exposes metrics and plots, and a param change reruns only the stages that read it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from model.probes import ProbeSpec, build_probe

ROOT = Path(__file__).resolve().parents[2]
MINIATURE = {
    "simulate": {"n_videos": 24, "seed": 3, "pediatric_videos": 6},
    "data": {"batch_size": 2},
    "optimization": {"steps": 4, "warmup": 1, "checkpoint_every": 2},
    "probe": {"epochs": 2, "fractions": [1.0], "seeds": [0]},
    "evaluate": {"probe_seeds": [0], "view_fractions": [1.0], "severities": ["high"], "clips_per_video": 1},
}


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
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def dvc(repo: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", log))


def skipped(log: str) -> set[str]:
    return set(re.findall(r"Stage '([\w-]+)' didn't change, skipping", log))


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = fresh_copy(tmp_path_factory.mktemp("clone"))
    return repo, dvc(repo, "repro")


def test_repro_runs_every_stage_and_leaves_status_clean(reproduced: tuple[Path, str]) -> None:
    repo, log = reproduced
    stages = {"simulate", "simulate_pediatric", "validate", "prepare", "pretrain", "embed", "features"}
    assert ran(log) == stages | {"probe", "evaluate"}
    assert "up to date" in dvc(repo, "status")
    summary = json.loads((repo / "reports/validation/synthetic/summary.json").read_text())
    assert summary["rows_in"] == 24 == summary["accepted"] + summary["quarantined"]
    probes = json.loads((repo / "reports/probes/metrics.json").read_text())
    assert probes["label_source"] == "feast"
    ef = probes["tasks"]["ef"]["1"]
    assert 0 < ef["mae"]["mean"] < 60  # EF points: a real number from a real (tiny) probe
    saved = torch.load(repo / "models/jepa-tiny/probes/ef.pt", weights_only=False)
    spec = saved["spec"]
    assert spec["time_steps"] == 8  # temporal-contrast input over the tiny encoder's 8 token time steps
    served = build_probe(ProbeSpec(**spec), saved["width"], 1)
    served.load_state_dict(saved["state_dict"])  # strict: the packaged probe is complete
    assert set(saved["stats"]) == {"mean", "std"} and 20 < saved["stats"]["mean"] < 80
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


def test_a_param_change_reruns_only_dependent_stages(reproduced: tuple[Path, str]) -> None:
    repo, _ = reproduced
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["optimization"]["lr"] = 0.0005
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = dvc(repo, "repro")
    assert {"simulate", "validate", "prepare"} <= skipped(log)
    assert "pretrain" in ran(log) and not ({"simulate", "validate", "prepare"} & ran(log))
