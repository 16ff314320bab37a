"""The hash chain: verification names the first bad line after edits, deletions, reordering, bad signatures
and truncation; two processes appending at once never break the chain."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import pytest

from release.ledger import GENESIS, Ledger, LedgerError, entry_hash


def _fill(ledger: Ledger, n: int = 5) -> list[dict]:
    return [
        ledger.append("candidate", candidate_id=f"cand-{i:08x}", model_version=f"v{i}", note=i)
        for i in range(n)
    ]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_chain_verifies_and_links(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    assert ledger.head() == GENESIS and ledger.verify().ok and ledger.entries() == []
    written = _fill(ledger)
    entries = ledger.entries()
    assert entries == written
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    assert all(e["hash"] == entry_hash(e) and "sig" not in e for e in entries)
    assert entries[0]["time"].endswith("+00:00")
    assert ledger.head() == entries[-1]["hash"]
    assert ledger.verify(expected_heads=[e["hash"] for e in entries]).ok


def test_edit_names_the_edited_line(ledger_path: Path) -> None:
    _fill(Ledger(ledger_path))
    lines = _lines(ledger_path)
    entry = json.loads(lines[2])
    entry["model_version"] = "v-forged"
    lines[2] = json.dumps(entry)
    _write(ledger_path, lines)
    result = Ledger(ledger_path).verify()
    assert (result.ok, result.line) == (False, 3) and "edited" in result.reason


def test_edit_with_recomputed_hash_breaks_the_next_link(ledger_path: Path) -> None:
    """Without a key, an editor who recomputes line 3's hash is caught at line 4 (its prev no longer matches)."""  # noqa: E501
    _fill(Ledger(ledger_path))
    lines = _lines(ledger_path)
    entry = json.loads(lines[2])
    entry["model_version"] = "v-forged"
    entry["hash"] = entry_hash(entry)
    lines[2] = json.dumps(entry)
    _write(ledger_path, lines)
    assert Ledger(ledger_path).verify().line == 4


def test_deleting_line_2_names_line_2(ledger_path: Path) -> None:
    """The old line 3 now sits at line 2 and its prev is the hash of the deleted line: line 2 is named."""
    _fill(Ledger(ledger_path))
    lines = _lines(ledger_path)
    del lines[1]
    _write(ledger_path, lines)
    result = Ledger(ledger_path).verify()
    assert (result.ok, result.line) == (False, 2) and "deleted" in result.reason


def test_deleting_line_1_names_line_1(ledger_path: Path) -> None:
    _fill(Ledger(ledger_path))
    _write(ledger_path, _lines(ledger_path)[1:])
    assert Ledger(ledger_path).verify().line == 1


def test_swapping_two_lines_names_the_first(ledger_path: Path) -> None:
    _fill(Ledger(ledger_path))
    lines = _lines(ledger_path)
    lines[1], lines[3] = lines[3], lines[1]
    _write(ledger_path, lines)
    result = Ledger(ledger_path).verify()
    assert (result.ok, result.line) == (False, 2)


def test_truncation_caught_by_expected_heads(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    entries = _fill(ledger)
    promotion_head = entries[3]["hash"]  # as if line 4 were a promotion whose head went into the model store
    _write(ledger_path, _lines(ledger_path)[:2])
    assert ledger.verify().ok  # a prefix of a chain is a valid chain ...
    result = ledger.verify(expected_heads=[entries[0]["hash"], promotion_head])
    assert (result.ok, result.line) == (False, 2)  # ... but the recorded head is gone: truncated after line 2
    assert "truncated after line 2" in result.reason
    # appending after the truncation does not hide it either
    ledger.append("candidate", candidate_id="cand-ffffffff", model_version="v9")
    assert ledger.verify(expected_heads=[promotion_head]).line == 3


def test_torn_last_line_is_named_and_blocks_appends(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    _fill(ledger, 3)
    with ledger_path.open("a") as fh:
        fh.write('{"seq": 4, "ev')
    assert ledger.verify().line == 4
    with pytest.raises(LedgerError, match="refusing to append"):
        ledger.append("candidate", candidate_id="cand-00000009", model_version="v9")


def test_hmac_signatures(ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHOJEPA_LEDGER_KEY", "s3cret-key")
    signed = Ledger(ledger_path)
    _fill(signed, 3)
    assert all(len(e["sig"]) == 64 for e in signed.entries())
    assert "s3cret-key" not in ledger_path.read_text() and "s3cret" not in repr(signed)
    assert signed.verify().ok

    monkeypatch.setenv("ECHOJEPA_LEDGER_KEY", "wrong-key")
    wrong = Ledger(ledger_path).verify()
    assert (wrong.ok, wrong.line) == (False, 1) and "signature" in wrong.reason

    monkeypatch.delenv("ECHOJEPA_LEDGER_KEY")
    unkeyed = Ledger(ledger_path)
    result = unkeyed.verify()
    assert (result.ok, result.line) == (False, 1) and "signature" in result.reason
    with pytest.raises(LedgerError, match="signature"):  # an unkeyed writer cannot extend a signed ledger
        unkeyed.append("candidate", candidate_id="cand-00000009", model_version="v9")

    # a forger without the key who edits line 2 and recomputes its hash is caught by the signature of line 2
    monkeypatch.setenv("ECHOJEPA_LEDGER_KEY", "s3cret-key")
    lines = _lines(ledger_path)
    entry = json.loads(lines[1])
    entry["model_version"] = "v-forged"
    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry)
    _write(ledger_path, lines)
    result = Ledger(ledger_path).verify()
    assert (result.line, "signature" in result.reason) == (2, True)


def test_unsigned_ledger_fails_when_a_key_is_set(ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(Ledger(ledger_path), 2)
    monkeypatch.setenv("ECHOJEPA_LEDGER_KEY", "k")
    result = Ledger(ledger_path).verify()
    assert (result.line, "signature" in result.reason) == (1, True)


def test_append_rejects_bad_fields(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    with pytest.raises(LedgerError, match="unknown ledger event"):
        ledger.append("deployed", candidate_id="c", model_version="v")
    with pytest.raises(LedgerError, match="model_version"):
        ledger.append("candidate", candidate_id="c")
    with pytest.raises(LedgerError, match="reserved"):
        ledger.append("candidate", candidate_id="c", model_version="v", hash="x")
    assert not ledger_path.exists() or ledger.entries() == []
    # NaN and numpy values are stored as JSON (NaN -> null), so the hash survives a round trip
    np = pytest.importorskip("numpy")
    metrics = {"a": float("nan"), "b": np.float32(0.5)}
    ledger.append("candidate", candidate_id="c", model_version="v", m=metrics)
    assert ledger.entries()[0]["m"] == {"a": None, "b": 0.5} and ledger.verify().ok


def test_transaction_is_all_or_nothing(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    _fill(ledger, 1)
    with pytest.raises(RuntimeError), ledger.transaction() as tx:
        tx.stage("candidate", candidate_id="cand-2", model_version="v2")
        raise RuntimeError("boom")
    assert len(ledger.entries()) == 1
    with ledger.transaction() as tx:
        first = tx.stage("candidate", candidate_id="cand-2", model_version="v2")
        second = tx.stage("gates_failed", candidate_id="cand-2", model_version="v2", failed=["x"])
        assert tx.head() == second["hash"] and second["prev"] == first["hash"]
    assert [e["seq"] for e in ledger.entries()] == [1, 2, 3] and ledger.verify().ok


def _append_many(path: str, worker: int, n: int) -> None:
    ledger = Ledger(path)
    for i in range(n):
        ledger.append("candidate", candidate_id=f"cand-{worker}-{i}", model_version=f"w{worker}")


def test_two_processes_cannot_interleave(ledger_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(ledger_path), w, 15)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    ledger = Ledger(ledger_path)
    assert len(ledger.entries()) == 30 and ledger.verify().ok
