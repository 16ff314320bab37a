"""Crash safety: torn writes and damage a crash cannot cause, repaired or refused by `recover`. The SIGKILL
matrix over the whole release path is in test_kill_matrix.py; FILES, `store` and `_complete_lines` are
shared with it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from release.ledger import Ledger
from release.recover import RecoveryError, recover

FILES = ("encoder.pt", "evaluation.json", "probes/ef/seed-0.pt")


@contextlib.contextmanager
def store(home: Path):
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    (home / "models").mkdir(parents=True, exist_ok=True)
    with (
        BentoMLContainer.bentoml_home.patch(str(home)),
        BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))),
    ):
        yield


def _complete_lines(path: Path) -> list[bytes]:
    data = path.read_bytes() if path.exists() else b""
    return data.split(b"\n")[: data.count(b"\n")]


def test_a_torn_last_line_is_cut_and_recorded(ledger: Ledger, keys) -> None:
    ledger.append(keys.signer("alice"), "candidate", candidate_id="cand-1", model_version="v1")
    before = ledger.path.read_bytes()
    with ledger.path.open("ab") as fh:
        fh.write(b'{"seq":3,"event":"cand')
    assert ledger.verify().line == 3
    done = recover(ledger, keys.signer("alice"))
    assert "line 3 was a torn write (22 bytes" in done.actions[0] and "cut off" in done.actions[0]
    assert ledger.path.read_bytes().startswith(before) and ledger.verify().ok
    assert ledger.entries()[-1]["event"] == "recovered" and ledger.entries()[-1]["signer"] == "alice"
    assert recover(ledger, keys.signer("alice")).actions == []  # nothing left to do: nothing written


def test_a_complete_line_without_its_newline_is_kept(ledger: Ledger, keys) -> None:
    with pytest.raises(RuntimeError), ledger.transaction(keys.signer("alice")) as tx:
        tx.stage("candidate", candidate_id="cand-1", model_version="v1")
        line = tx.lines()[0]
        raise RuntimeError("killed between the write and the newline")
    with ledger.path.open("ab") as fh:
        fh.write(line.encode())
    done = recover(ledger, keys.signer("alice"))
    assert done.actions[0] == "line 2 was complete and signed but lacked its newline: ended it"
    assert ledger.path.read_bytes().split(b"\n")[1] == line.encode() and ledger.verify().ok


def test_damage_a_crash_cannot_cause_is_refused(ledger: Ledger, keys) -> None:
    for i in range(3):
        ledger.append(keys.signer("alice"), "candidate", candidate_id=f"cand-{i}", model_version=f"v{i}")
    lines = ledger.path.read_text().splitlines(keepends=True)
    ledger.path.write_text("".join(lines[:-1]))  # the witness saw line 4
    with pytest.raises(RecoveryError, match="line 4 deleted; not what a crash leaves"):
        recover(ledger, keys.signer("alice"))
    ledger.path.write_text("".join([lines[0], lines[2], lines[1], lines[3]]))
    with pytest.raises(RecoveryError, match="ledger line 2"):
        recover(ledger, keys.signer("alice"))
