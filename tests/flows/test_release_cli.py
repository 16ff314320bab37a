"""`echojepa release …` and `echojepa ledger …` as a user runs them: real subprocesses with real SSH keys,
on a ledger and a BentoML store written by the release library, against a real Prefect API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from release.decision_docs import make_document
from release.decisions import record_decision, register_candidate, sign_decision
from release.ledger import open_ledger
from release.manifest import run_files
from release.package import package_candidate
from tests.flows.conftest import GATES_PASSING, release_settings, write_evaluation, write_run
from tests.release.releases import forge

CLI = [sys.executable, "-m", "flows.cli"]
FAILING = [*GATES_PASSING[:2], {"name": "view_accuracy", "value": 0.42, "threshold": 0.8, "passed": False}]


def run(*args: str, api: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PREFECT_API_URL": api}
    command = [*CLI, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, input=stdin)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stdout
    (line,) = done.stderr.strip().splitlines()
    return line


def ledger():
    return open_ledger(release_settings(Path.cwd()))


def candidate(root: Path, keys, seed: int, *, gates=GATES_PASSING, lr: float = 0.001, who="alice") -> str:
    """Register the run of `seed` (signed by `who`) as jepa-tiny-v<seed>."""
    run = write_run(root, seed)
    evaluation = write_evaluation(root, gates)
    return register_candidate(
        ledger(), signer=keys.signer(who), files=run_files(run, **{"evaluation.json": evaluation}),
        model_version=f"jepa-tiny-v{seed}", data_version="d1", git_commit="abc123", gates=gates,
        metrics={"ef_mae": gates[0]["value"], "view_accuracy": gates[-1]["value"]},
        params={"optimization": {"lr": lr, "steps": 300}},
    )  # fmt: skip


def release(root: Path, keys, seed: int, **kwargs) -> str:
    """A candidate registered by alice, approved by bob, packaged: it becomes production."""
    cid = candidate(root, keys, seed, **kwargs)
    record_decision(
        ledger(), sign_decision(ledger(), keys.signer("bob"), "approve", cid), signer=keys.signer("alice")
    )
    package_candidate(ledger(), cid, signer=keys.signer("alice"))
    return cid


@pytest.fixture
def history(workspace: Path, keys) -> dict[str, str]:
    """v1 and v2 released (v2 production), v3 pending, v4 failed its gates."""
    return {
        "v1": release(workspace, keys, 1),
        "v2": release(workspace, keys, 2, lr=0.002),
        "v3": candidate(workspace, keys, 3, lr=0.003),
        "v4": candidate(workspace, keys, 4, gates=FAILING),
    }


def test_release_list_and_show(history, prefect_api) -> None:
    out = run("release", "list", api=prefect_api)
    assert out.returncode == 0, out.stderr
    rows = {re.search(r"cand-\w+", line)[0]: line for line in out.stdout.splitlines() if "cand-" in line}
    assert set(rows) == set(history.values())
    expected = {"v1": "retired", "v2": "production", "v3": "pending", "v4": "gates_failed"}
    for version, state in expected.items():
        row = rows[history[version]]
        assert state in row and f"jepa-tiny-{version}" in row and "alice" in row
    assert "0.42" in rows[history["v4"]] and "2/3" in rows[history["v4"]] and "bob" in rows[history["v1"]]

    out = run("release", "show", history["v4"], api=prefect_api)
    assert out.returncode == 0, out.stderr
    assert "registered by alice" in out.stdout and "production: jepa-tiny-v2" in out.stdout
    assert "view_accuracy: 0.42 (>= 0.8) — blocks until waived" in out.stdout
    assert "optimization.lr: 0.002 → 0.001" in out.stdout and "optimization.steps" not in out.stdout


def test_decisions_are_signed_checked_and_need_a_waiting_run_to_approve(history, keys, prefect_api) -> None:
    pending = history["v3"]
    own = run("release", "sign", pending, "--approve", "--key", str(keys.path("alice")), api=prefect_api)
    assert "reviewer alice registered this candidate (alice); self-approval is not allowed" in one_line_error(
        own
    )
    stranger = run(
        "release", "sign", pending, "--approve", "--key", str(keys.path("mallory")), api=prefect_api
    )
    assert "may not sign as echojepa-review" in one_line_error(stranger)
    unsigned = run("release", "approve", f"{pending} approved by bob", api=prefect_api)
    assert "is not a signed decision" in one_line_error(unsigned)

    approval = run("release", "sign", pending, "--approve", "--key", str(keys.path("bob")), api=prefect_api)
    assert approval.returncode == 0 and approval.stdout.startswith("echojepa-decision-v1.")
    # no retrain run waits for it: an approval would never be packaged, so it is refused
    orphan = run("release", "approve", approval.stdout.strip(), api=prefect_api)
    assert "cannot approve, no flow run exists for it" in one_line_error(orphan)
    edited = approval.stdout.strip()[:-8] + "AAAAAAA="  # any edit breaks the signature
    assert "does not verify" in one_line_error(run("release", "approve", edited, api=prefect_api))
    assert ledger().candidate(pending).state == "pending"

    carol = ["--key", str(keys.path("carol"))]
    text = run("release", "sign", pending, "--reject", "--reason", "stale", *carol, api=prefect_api).stdout
    out = run("release", "reject", *carol, api=prefect_api, stdin=text)  # from stdin
    assert out.returncode == 0, out.stderr
    assert "reject by carol: no flow run exists for it; recorded in the ledger directly" in out.stdout
    assert ledger().candidate(pending).state == "rejected" and ledger().candidate(pending).reviewer == "carol"
    again = run("release", "sign", pending, "--reject", "--reason", "late", "--key", str(keys.path("bob")),
                api=prefect_api)  # fmt: skip
    assert "already rejected by carol" in one_line_error(again)


def test_an_initiator_cannot_make_itself_a_reviewer(workspace: Path, keys, prefect_api) -> None:
    """The scheduler's key holder (initiator role only) adds a reviewer key it also holds (mallory's) to
    the signers file and approves its own candidate: every door is refused, and the hand-written line is
    named by `ledger verify`."""
    cid = candidate(workspace, keys, 1, who="scheduler")
    widened = workspace / "allowed_signers.new"
    widened.write_text(keys.signers(keys.line("mallory", "echojepa-review")))
    scheduler, mallory = ["--key", str(keys.path("scheduler"))], ["--key", str(keys.path("mallory"))]
    changed = run("release", "signers", "set", str(widened), *scheduler, api=prefect_api)
    assert "may not write a signers-changed line" in one_line_error(changed)
    signed = run("release", "sign", cid, "--approve", *mallory, api=prefect_api)
    assert "may not sign as echojepa-review" in one_line_error(signed)

    book = ledger()  # by hand: the widened version stored, an approval signed against it, chained, signed
    version = book.signers.put(widened.read_text())
    replay = book.verified_replay()
    payload = {"action": "approve", "ledger": replay.genesis, "candidate_id": cid,
               "registration": replay.candidates[cid].registration["hash"]}  # fmt: skip
    document = make_document(keys.signer("mallory"), version, payload)
    line = forge(book, keys, "scheduler", "echojepa-initiator", "approved", signers=version.sha256,
                 candidate_id=cid, model_version="jepa-tiny-v1", reviewer="mallory", decision=document,
                 comment="", reason="")  # fmt: skip
    error = one_line_error(run("ledger", "verify", api=prefect_api))
    assert f"line {line}: signers hash {version.sha256[:12]}" in error
    assert "without a release-manager-signed signers-changed entry" in error


def test_rollback_needs_a_reviewers_signature_and_a_second_person(history, keys, prefect_api) -> None:
    bob = ["--key", str(keys.path("bob"))]
    decision = run(
        "release", "sign", "--rollback", "--reason", "EF drift in production", *bob, api=prefect_api
    )
    assert decision.returncode == 0, decision.stderr
    alone = run("release", "rollback", decision.stdout.strip(), *bob, api=prefect_api)
    assert "one person is not allowed" in one_line_error(alone)
    out = run("release", "rollback", "--key", str(keys.path("alice")), api=prefect_api, stdin=decision.stdout)
    assert out.returncode == 0, out.stderr
    assert "jepa-tiny-v2 → jepa-tiny-v1 (decided by bob, applied by alice)" in out.stdout
    assert ledger().production() == "jepa-tiny-v1"
    again = run("release", "sign", "--rollback", "--reason", "again", *bob, api=prefect_api)
    assert "no previous production version" in one_line_error(again)

    path = ledger().path  # the rollback line deleted: v2 is production again by the chain alone
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))
    error = one_line_error(run("ledger", "verify", api=prefect_api))
    assert f"line {len(lines)}:" in error and f"line {len(lines)} deleted" in error


def test_ledger_verify_names_the_first_edited_line(history, prefect_api) -> None:
    ok = run("ledger", "verify", api=prefect_api)
    assert ok.returncode == 0, ok.stderr
    assert "ok (" in ok.stdout and "production jepa-tiny-v2" in ok.stdout

    path = Path("registry/ledger.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    assert '"event":"approved"' in lines[2]
    lines[2] = lines[2].replace('"reviewer":"bob"', '"reviewer":"eve"')  # line 3: v1's approval
    path.write_text("".join(lines))
    error = one_line_error(run("ledger", "verify", api=prefect_api))
    assert error.startswith("echojepa: error: registry/ledger.jsonl: line 3:") and "edited" in error


def test_ledger_init_and_recover_a_torn_last_line(tmp_path: Path, keys, prefect_api, monkeypatch) -> None:
    from tests.flows.conftest import write_params

    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))  # an empty store: no heads to explain
    write_params(root, keys.path("alice"))
    signers = root / "allowed_signers"
    signers.write_text(keys.signers())
    dana = ["--key", str(keys.path("dana"))]
    started = run("ledger", "init", "--signers", str(signers), *dana, api=prefect_api)
    assert started.returncode == 0 and "started by dana" in started.stdout, started.stderr
    assert "already has entries" in one_line_error(run("ledger", "init", "--signers", str(signers), *dana,
                                                         api=prefect_api))  # fmt: skip
    with ledger().path.open("ab") as torn:  # a kill in the middle of an append
        torn.write(b'{"seq":2,"event":"cand')
    assert "line 2" in one_line_error(run("ledger", "verify", api=prefect_api))
    repaired = run("ledger", "recover", api=prefect_api)  # alice's key from release.signing_key
    assert repaired.returncode == 0, repaired.stderr
    assert (
        "line 2 was a torn write (22 bytes" in repaired.stdout
        and "recorded in line 2 by alice" in repaired.stdout
    )
    assert run("ledger", "verify", api=prefect_api).returncode == 0


def test_retrain_with_failed_gates_waits_and_ends_naming_the_expiry(
    workspace: Path, keys, prefect_api
) -> None:
    write_evaluation(workspace, FAILING)
    key = ["--key", str(keys.path("bob"))]  # this terminal's key, not release.signing_key (alice)
    out = run("retrain", "--empty-stages", "--approval-timeout-hours", "0.0006", *key, api=prefect_api)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and last.startswith("echojepa: error: retrain failed: candidate cand-")
    assert "expired" in last
    (registered,) = ledger().candidates()
    assert (registered.state, registered.initiator, registered.failed_gates) == (
        "expired",
        "bob",
        ("view_accuracy",),
    )


UNMEASURED = [
    GATES_PASSING[0],
    {"name": "view_accuracy", "value": None, "reason": "fewer than two views (A4C)", "threshold": 0.8,
     "direction": ">=", "passed": False, "advisory": False, "blocks": True},
    {"name": "no_regression_ef_mae", "value": None, "reason": "first release: nothing to compare with",
     "threshold": 0.5, "direction": "<=", "passed": False, "advisory": True, "blocks": False},
    # a row that claims an unmeasured pass (a careless or hostile writer): read as not measured, never passed
    {"name": "reduced_ef_auroc", "value": None, "reason": "no TEST study below EF 40", "threshold": 0.7,
     "direction": ">=", "passed": True, "advisory": False},
]  # fmt: skip


def test_unmeasured_gates_read_not_measured_and_a_blocking_one_blocks(
    workspace: Path, keys, prefect_api
) -> None:
    from flows.retrain_run import approval_form_text
    from release.decision_docs import DecisionError

    cid = candidate(workspace, keys, 7, gates=UNMEASURED)
    out = run("release", "show", cid, api=prefect_api)
    assert out.returncode == 0, out.stderr
    assert "gates: 1 passed, 0 failed, 3 not measured (2 block the release)" in out.stdout
    assert "not measured — fewer than two views (A4C) (blocks)  view_accuracy" in out.stdout
    assert "not measured — first release: nothing to compare with (advisory)" in out.stdout
    auroc = next(line for line in out.stdout.splitlines() if "reduced_ef_auroc" in line)
    assert auroc.strip().startswith("not measured — no TEST study below EF 40 (blocks)"), auroc
    form = approval_form_text(cid, {"gates": UNMEASURED, "metrics": {}}, "alice")
    assert "1 passed, 0 failed, 3 not measured" in form and "All gates passed" not in form
    assert "not measured — fewer than two views (A4C) (blocks) — BLOCKS until a reviewer waives it" in form
    # the blocking unmeasured gates stop an approval that no signed waiver preceded
    with pytest.raises(DecisionError, match=r"failed gate\(s\) view_accuracy, reduced_ef_auroc"):
        sign_decision(ledger(), keys.signer("bob"), "approve", cid)
