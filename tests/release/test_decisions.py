"""Reviewer rules: approve, reject (with a reason), no self-approval, the allow-list, one decision per
candidate, failed gates, expiry; and the candidate states that `release list` shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.decisions import (
    DecisionError,
    check_decision,
    current_initiator,
    record_decision,
    record_expiry,
    register_candidate,
)
from release.ledger import Ledger

PASSED = [{"name": "ef_mae", "value": 8.0, "threshold": 10.0, "passed": True}]
FAILED = [*PASSED, {"name": "margin_vs_mean", "value": 0.01, "threshold": 0.1, "passed": False}]


def _register(
    ledger: Ledger, gates: list[dict] = PASSED, initiator: str = "alice", version: str = "v1"
) -> str:
    return register_candidate(
        ledger,
        model_version=version,
        weights_sha256="a" * 64,
        data_version="d1",
        git_commit="c0ffee",
        evaluation_sha256="e" * 64,
        gates=gates,
        initiator=initiator,
        metrics={"test": {"ef_mae": 8.0}},
        params={"pretrain": {"epochs": 1}},
    )


@pytest.fixture
def ledger(ledger_path: Path) -> Ledger:
    return Ledger(ledger_path)


def test_register_and_approve(ledger: Ledger) -> None:
    cid = _register(ledger)
    assert cid.startswith("cand-") and len(cid) == 13
    summary = ledger.candidate(cid)
    assert summary["state"] == "pending" and summary["initiator"] == "alice" and summary["gates"] == PASSED
    entry = record_decision(ledger, cid, approve=True, reviewer="bob", comment="looks good")
    assert entry["event"] == "approved" and entry["reviewer"] == "bob" and entry["model_version"] == "v1"
    summary = ledger.candidate(cid)
    assert summary["state"] == "approved" and summary["decision"]["comment"] == "looks good"
    assert [e["event"] for e in summary["entries"]] == ["candidate", "approved"]
    assert ledger.verify().ok and ledger.production() is None


def test_reject_needs_a_reason(ledger: Ledger) -> None:
    cid = _register(ledger)
    with pytest.raises(DecisionError, match="needs a reason"):
        record_decision(ledger, cid, approve=False, reviewer="bob")
    record_decision(ledger, cid, approve=False, reviewer="bob", reason="pediatric MAE too high")
    summary = ledger.candidate(cid)
    assert summary["state"] == "rejected" and summary["decision"]["reason"] == "pediatric MAE too high"


def test_self_approval_refused(ledger: Ledger) -> None:
    cid = _register(ledger, initiator="alice")
    with pytest.raises(DecisionError, match="self-approval"):
        record_decision(ledger, cid, approve=True, reviewer="alice")
    with pytest.raises(DecisionError, match="self-approval"):
        check_decision(ledger, cid, " Alice ", None)
    assert ledger.candidate(cid)["state"] == "pending"


def test_allow_list(ledger: Ledger) -> None:
    cid = _register(ledger)
    with pytest.raises(DecisionError, match="allow-list"):
        record_decision(ledger, cid, approve=True, reviewer="mallory", reviewers_allow_list=("bob", "carol"))
    check_decision(ledger, cid, "carol", ("bob", "carol"))
    check_decision(ledger, cid, "mallory", ())  # an empty allow-list means anyone but the initiator
    record_decision(ledger, cid, approve=True, reviewer="carol", reviewers_allow_list=("bob", "carol"))


def test_double_decision_refused(ledger: Ledger) -> None:
    cid = _register(ledger)
    record_decision(ledger, cid, approve=True, reviewer="bob")
    with pytest.raises(DecisionError, match="already approved by bob"):
        record_decision(ledger, cid, approve=False, reviewer="carol", reason="changed my mind")
    with pytest.raises(DecisionError, match="already approved"):
        record_expiry(ledger, cid, 10.0)
    assert [e["event"] for e in ledger.entries()] == ["candidate", "approved"]


def test_unknown_candidate_and_empty_reviewer(ledger: Ledger) -> None:
    cid = _register(ledger)
    with pytest.raises(DecisionError, match="unknown candidate"):
        check_decision(ledger, "cand-00000000", "bob", None)
    with pytest.raises(DecisionError, match="empty"):
        record_decision(ledger, cid, approve=True, reviewer="  ")


def test_failed_gates_can_never_be_approved(ledger: Ledger) -> None:
    cid = _register(ledger, gates=FAILED)
    assert [e["event"] for e in ledger.entries()] == ["candidate", "gates_failed"]
    summary = ledger.candidate(cid)
    assert summary["state"] == "gates_failed" and summary["failed_gates"] == ["margin_vs_mean"]
    with pytest.raises(DecisionError, match=r"failed its gates .*margin_vs_mean"):
        record_decision(ledger, cid, approve=True, reviewer="bob")
    with pytest.raises(DecisionError, match="failed its gates"):
        record_expiry(ledger, cid, 1.0)
    with pytest.raises(DecisionError, match="passed"):
        _register(ledger, gates=[{"name": "no-verdict"}])


def test_deleting_the_trailing_gates_failed_line_does_not_make_a_candidate_eligible(
    ledger: Ledger, ledger_path: Path
) -> None:
    cid = _register(ledger, gates=FAILED)
    lines = ledger_path.read_text().splitlines(keepends=True)
    ledger_path.write_text("".join(lines[:-1]))  # an unsigned chain cannot see its own tail cut off
    assert ledger.verify().ok and ledger.candidate(cid)["state"] == "pending"
    with pytest.raises(DecisionError, match=r"failed gate\(s\) margin_vs_mean at registration"):
        record_decision(ledger, cid, approve=True, reviewer="bob")


def test_expiry(ledger: Ledger) -> None:
    cid = _register(ledger)
    entry = record_expiry(ledger, cid, 86400.0)
    assert entry["event"] == "expired" and entry["waited_s"] == 86400.0
    assert ledger.candidate(cid)["state"] == "expired"
    with pytest.raises(DecisionError, match="already expired"):
        record_decision(ledger, cid, approve=True, reviewer="bob")


def test_candidates_listing_and_production_states(ledger: Ledger) -> None:
    """production()/history() follow promoted and rollback lines (written by release.package in real use)."""
    first, second = _register(ledger, version="v1"), _register(ledger, version="v2")
    third = _register(ledger, version="v3", gates=FAILED)
    for cid in (first, second):
        record_decision(ledger, cid, approve=True, reviewer="bob")
    ledger.append("promoted", candidate_id=first, model_version="v1", bento_tag="echojepa:one")
    ledger.append("promoted", candidate_id=second, model_version="v2", bento_tag="echojepa:two")
    states = {c["candidate_id"]: c["state"] for c in ledger.candidates()}
    assert states == {first: "retired", second: "production", third: "gates_failed"}
    assert ledger.production() == "v2" and ledger.history() == ["v1", "v2"]
    assert ledger.previous_production()["candidate_id"] == first
    ledger.append("rollback", candidate_id=first, model_version="v1", bento_tag="echojepa:one")
    assert ledger.production() == "v1" and ledger.history() == ["v1", "v2", "v1"]
    assert ledger.candidate(first)["state"] == "production" and ledger.candidate(second)["state"] == "retired"
    assert ledger.previous_production() is None


def test_current_initiator() -> None:
    assert current_initiator(scheduled=True) == "scheduler"
    assert current_initiator() and current_initiator() != "scheduler"


def test_an_advisory_failure_does_not_block_approval(ledger: Ledger) -> None:
    advisory = [*PASSED, {"name": "margin_vs_random", "value": -0.2, "threshold": 0.05, "passed": False,
                          "advisory": True}]  # fmt: skip
    cid = _register(ledger, gates=advisory)
    assert ledger.candidate(cid)["state"] == "pending"
    record_decision(ledger, cid, approve=True, reviewer="bob")
    assert ledger.candidate(cid)["state"] == "approved"
