"""`echojepa release …` and `echojepa ledger verify` as a user runs them: a real subprocess on a ledger and
a BentoML store written by the release library, against a real Prefect API (for approve/reject)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from release.decisions import record_decision, register_candidate
from release.ledger import Ledger, sha256_file
from release.package import package_candidate
from tests.flows.conftest import GATES_PASSING, write_encoder, write_evaluation

CLI = [sys.executable, "-m", "flows.cli"]
FAILING = [*GATES_PASSING[:2], {"name": "view_accuracy", "value": 0.42, "threshold": 0.8, "passed": False}]


def run(*args: str, api: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PREFECT_API_URL": api}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def candidate(root: Path, seed: int, *, gates=GATES_PASSING, lr: float = 0.001) -> str:
    """Register a candidate (initiator alice) whose encoder is the bytes of `seed`."""
    weights = write_encoder(root, seed)
    return register_candidate(
        Ledger(), model_version=f"jepa-tiny-v{seed}", weights_sha256=sha256_file(weights), data_version="d1",
        git_commit="abc123", evaluation_sha256="e" * 64, gates=gates, initiator="alice",
        metrics={"ef_mae": gates[0]["value"], "view_accuracy": gates[-1]["value"]},
        params={"optimization": {"lr": lr, "steps": 300}},
    )  # fmt: skip


def release(root: Path, seed: int, **kwargs) -> str:
    """A candidate approved by bob and packaged: it becomes production."""
    cid = candidate(root, seed, **kwargs)
    record_decision(Ledger(), cid, approve=True, reviewer="bob")
    reference = pd.DataFrame({"FileName": ["a", "b"], "brightness": [40.0, 41.0]})
    package_candidate(
        Ledger(), cid, run_dir=root / "models" / "jepa-tiny", evaluation={}, reference=reference
    )
    return cid


@pytest.fixture
def history(workspace: Path) -> dict[str, str]:
    """v1 and v2 released (v2 production), v3 pending, v4 failed its gates."""
    return {
        "v1": release(workspace, 1),
        "v2": release(workspace, 2, lr=0.002),
        "v3": candidate(workspace, 3, lr=0.003),
        "v4": candidate(workspace, 4, gates=FAILING),
    }


def test_release_list_shows_every_candidate_with_state_and_key_metrics(history, prefect_api) -> None:
    out = run("release", "list", api=prefect_api)
    assert out.returncode == 0, out.stderr
    rows = {re.search(r"cand-\w+", line)[0]: line for line in out.stdout.splitlines() if "cand-" in line}
    assert set(rows) == set(history.values())
    expected = {"v1": "retired", "v2": "production", "v3": "pending", "v4": "gates_failed"}
    for version, state in expected.items():
        assert state in rows[history[version]] and f"jepa-tiny-{version}" in rows[history[version]]
    assert "0.42" in rows[history["v4"]] and "2/3" in rows[history["v4"]]


def test_release_show_diffs_params_against_production(history, prefect_api) -> None:
    out = run("release", "show", history["v3"], api=prefect_api)
    assert out.returncode == 0, out.stderr
    assert "production: jepa-tiny-v2" in out.stdout
    assert "optimization.lr: 0.002 → 0.003" in out.stdout and "optimization.steps" not in out.stdout


def test_decisions_check_the_reviewer_and_need_a_waiting_run_to_approve(history, prefect_api) -> None:
    pending = history["v3"]
    refused = run("release", "approve", pending, "--reviewer", "alice", api=prefect_api)
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        == "echojepa: error: reviewer alice started this run; self-approval is not allowed"
    )
    off_list = run(
        "release", "approve", pending, "--reviewer", "mallory", api=prefect_api
    )  # reviewers: bob, carol
    assert off_list.returncode == 1 and "not on the allow-list" in off_list.stderr

    # no retrain run waits for it: an approval would never be packaged, so it is refused; a rejection is kept
    orphan = run("release", "approve", pending, "--reviewer", "carol", "--comment", "ok", api=prefect_api)
    assert orphan.returncode == 1 and "cannot approve, no flow run exists for it" in orphan.stderr
    assert Ledger().candidate(pending)["state"] == "pending"
    out = run("release", "reject", pending, "--reviewer", "carol", "--reason", "stale", api=prefect_api)
    assert out.returncode == 0, out.stderr
    assert "no flow run exists for it; recorded in the ledger directly" in out.stdout
    assert Ledger().candidate(pending)["state"] == "rejected"

    again = run("release", "reject", pending, "--reviewer", "bob", "--reason", "late", api=prefect_api)
    assert again.returncode == 1 and "already rejected by carol" in again.stderr
    decisions = [e for e in Ledger().entries() if e["candidate_id"] == pending and e["event"] == "rejected"]
    assert len(decisions) == 1


def test_rollback_returns_to_the_previous_production_version(history, prefect_api) -> None:
    out = run(
        "release", "rollback", "--reviewer", "bob", "--reason", "EF drift in production", api=prefect_api
    )
    assert out.returncode == 0, out.stderr
    assert "jepa-tiny-v2 → jepa-tiny-v1" in out.stdout
    assert Ledger().production() == "jepa-tiny-v1"
    again = run("release", "rollback", "--reviewer", "bob", "--reason", "again", api=prefect_api)
    assert again.returncode == 1 and "no previous production version" in again.stderr


def test_ledger_verify_exit_code_names_the_first_edited_line(history, prefect_api) -> None:
    ok = run("ledger", "verify", api=prefect_api)
    assert ok.returncode == 0, ok.stderr
    assert "ok (" in ok.stdout and "production jepa-tiny-v2" in ok.stdout

    path = Path("registry/ledger.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    assert '"event":"approved"' in lines[1]
    lines[1] = lines[1].replace('"reviewer":"bob"', '"reviewer":"eve"')  # line 2: v1's approval
    path.write_text("".join(lines))
    bad = run("ledger", "verify", api=prefect_api)
    assert bad.returncode == 1
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("echojepa: error: registry/ledger.jsonl: line 2:") and "edited" in line


def test_retrain_ends_with_one_line_naming_each_failed_gate(workspace: Path, prefect_api) -> None:
    write_evaluation(workspace, FAILING)
    out = run("retrain", "--empty-stages", api=prefect_api)  # no DVC stage: the report above is read
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("echojepa: error: retrain failed: candidate cand-")
    assert last.endswith("1 gate(s) failed: view_accuracy: 0.42 < 0.8")
    assert Ledger().candidates()[0]["state"] == "gates_failed"
