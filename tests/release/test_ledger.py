"""The signed hash chain: verification names the first bad line after edits (with or without a recomputed
hash), deletions, reordering, stripped signatures and a torn write; two processes appending at once never
break the chain; the views (candidates, production) are typed."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import pytest

from release.events import CandidateState, Event
from release.ledger import GENESIS, Ledger, LedgerError, entry_hash
from release.ledger_chain import canonical_json
from tests.release.releases import FAILED, decide, make_run, register


def _fill(ledger: Ledger, keys, n: int = 4) -> None:
    for i in range(n):
        ledger.append(keys.signer("alice"), "candidate", candidate_id=f"cand-{i:08x}", model_version=f"v{i}")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def _rechain(lines: list[str], start: int, sign=None) -> list[str]:
    """Re-link lines from index `start` on (as a forger would): new prev and hash, optionally new sig."""
    out = list(lines)
    for i in range(start, len(out)):
        entry = json.loads(out[i])
        entry["prev"] = json.loads(out[i - 1])["hash"] if i else GENESIS
        entry["seq"] = i + 1
        if sign is not None:
            entry["sig"] = sign(entry)
        entry["hash"] = entry_hash(entry)
        out[i] = canonical_json(entry)
    return out


def test_chain_is_signed_linked_and_verifies(ledger: Ledger, ledger_path: Path, keys) -> None:
    _fill(ledger, keys)
    entries = ledger.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5] and entries[0]["prev"] == GENESIS
    assert entries[0]["event"] == Event.SIGNERS_CHANGED and entries[0]["signer"] == "dana"
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    assert all(e["hash"] == entry_hash(e) and e["sig"].startswith("U1NIU0lH") for e in entries)
    assert {(e["signer"], e["role"]) for e in entries[1:]} == {("alice", "echojepa-initiator")}
    assert len({e["signers"] for e in entries}) == 1 and ledger.head() == entries[-1]["hash"]
    result = ledger.verify()
    assert result.ok and result.notes == ()


def test_edit_names_the_edited_line_even_with_a_recomputed_hash(
    ledger: Ledger, ledger_path: Path, keys
) -> None:
    _fill(ledger, keys)
    lines = _lines(ledger_path)
    entry = json.loads(lines[2])
    entry["model_version"] = "v-forged"
    _write(ledger_path, [*lines[:2], json.dumps(entry), *lines[3:]])
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 3) and "edited" in result.reason
    entry["hash"] = entry_hash(entry)  # a forger recomputes the hash: the signature still covers the body
    _write(ledger_path, _rechain([*lines[:2], canonical_json(entry), *lines[3:]], 3))
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 3) and "does not verify" in result.reason


def test_a_chain_rehashed_without_signatures_fails(ledger: Ledger, ledger_path: Path, keys) -> None:
    _fill(ledger, keys)
    stripped = [
        canonical_json({k: v for k, v in json.loads(ln).items() if k != "sig"}) for ln in _lines(ledger_path)
    ]
    _write(ledger_path, _rechain(stripped, 0))
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 1) and "not signed" in result.reason


def test_a_chain_resigned_by_a_key_outside_the_signers_fails(ledger: Ledger, ledger_path: Path, keys) -> None:
    _fill(ledger, keys)
    mallory = keys.signer("mallory")
    from release.ledger_chain import signed_bytes

    _write(
        ledger_path, _rechain(_lines(ledger_path), 2, sign=lambda e: mallory.sign(signed_bytes(e), e["role"]))
    )
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 3) and "does not verify" in result.reason


@pytest.mark.parametrize(("edit", "line"), [("delete-2", 2), ("delete-1", 1), ("swap-2-4", 2)])
def test_deleted_or_reordered_lines_are_named(
    ledger: Ledger, ledger_path: Path, keys, edit: str, line: int
) -> None:
    _fill(ledger, keys)
    lines = _lines(ledger_path)
    if edit == "delete-2":
        del lines[1]
    elif edit == "delete-1":
        del lines[0]
    else:
        lines[1], lines[3] = lines[3], lines[1]
    _write(ledger_path, lines)
    result = ledger.verify()
    assert (result.ok, result.line) == (False, line)


def test_torn_last_line_is_named_and_blocks_appends(ledger: Ledger, ledger_path: Path, keys) -> None:
    _fill(ledger, keys, 2)
    with ledger_path.open("a") as fh:
        fh.write('{"seq": 4, "ev')
    assert ledger.verify().line == 4
    with pytest.raises(LedgerError, match="refusing to append"):
        ledger.append(keys.signer("alice"), "candidate", candidate_id="cand-00000009", model_version="v9")


def test_append_refuses_bad_fields_and_an_unstarted_ledger(ledger: Ledger, tmp_path: Path, keys) -> None:
    alice = keys.signer("alice")
    with pytest.raises(LedgerError, match="unknown ledger event"):
        ledger.append(alice, "deployed", candidate_id="c", model_version="v")
    with pytest.raises(LedgerError, match="model_version"):
        ledger.append(alice, "candidate", candidate_id="c")
    with pytest.raises(LedgerError, match="reserved"):
        ledger.append(alice, "candidate", candidate_id="c", model_version="v", signer="bob")
    with pytest.raises(LedgerError, match="start it with `signers-changed`"):
        Ledger(tmp_path / "fresh" / "ledger.jsonl").append(
            alice, "candidate", candidate_id="c", model_version="v"
        )
    np = pytest.importorskip("numpy")
    ledger.append(
        alice, "candidate", candidate_id="c", model_version="v", m={"a": float("nan"), "b": np.float32(0.5)}
    )
    assert ledger.entries()[-1]["m"] == {"a": None, "b": 0.5} and ledger.verify().ok


def test_transaction_is_all_or_nothing(ledger: Ledger, keys) -> None:
    alice = keys.signer("alice")
    with pytest.raises(RuntimeError), ledger.transaction(alice) as tx:
        tx.stage("candidate", candidate_id="cand-2", model_version="v2")
        raise RuntimeError("boom")
    assert len(ledger.entries()) == 1
    with ledger.transaction(alice) as tx:
        first = tx.stage("candidate", candidate_id="cand-2", model_version="v2")
        second = tx.stage("candidate", candidate_id="cand-3", model_version="v3")
        assert tx.head() == second["hash"] and second["prev"] == first["hash"]
    assert [e["seq"] for e in ledger.entries()] == [1, 2, 3] and ledger.verify().ok


def _append_many(path: str, witness: str, key: str, worker: int, n: int) -> None:
    from release.signing import Signer
    from release.witness import FileWitness

    book, signer = Ledger(path, witnesses=[FileWitness(witness)]), Signer(key)
    for i in range(n):
        book.append(signer, "candidate", candidate_id=f"cand-{worker}-{i}", model_version=f"w{worker}")


def test_two_processes_cannot_interleave(ledger: Ledger, ledger_path: Path, witness_dir: Path, keys) -> None:
    ctx = multiprocessing.get_context("fork")
    args = [
        (str(ledger_path), str(witness_dir), str(keys.path(who)), w, 6)
        for w, who in enumerate(("alice", "bob"))
    ]
    procs = [ctx.Process(target=_append_many, args=a) for a in args]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert len(ledger.entries()) == 13 and ledger.verify().ok


def test_views_are_typed(ledger: Ledger, tmp_path: Path, keys) -> None:
    passed = register(ledger, keys, make_run(tmp_path, 1), "v1")
    failed = register(ledger, keys, make_run(tmp_path, 2), "v2", gates=FAILED, who="scheduler")
    decide(ledger, keys, passed, "reject", reason="pediatric MAE too high")
    one, two = ledger.candidates()
    assert (one.candidate_id, one.state, one.reviewer, one.initiator) == (
        passed,
        CandidateState.REJECTED,
        "bob",
        "alice",
    )
    assert one.decision["reason"] == "pediatric MAE too high" and one.state == "rejected"  # a StrEnum
    assert (two.candidate_id, two.state, two.failed_gates, two.initiator) == (
        failed,
        CandidateState.GATES_FAILED,
        ("margin_vs_mean",),
        "scheduler",
    )
    assert [e["event"] for e in two.entries] == ["candidate", "gates_failed"]
    assert one.weights_sha256 == one.manifest["encoder.pt"] and one.data_hashes == {
        "data/raw/synthetic": "abc123.dir"
    }
    with pytest.raises(LedgerError, match="unknown candidate"):
        ledger.candidate("cand-00000000")
