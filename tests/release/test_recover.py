"""Crash safety: the release path (register, approve, package) is SIGKILLed right before and right after
each of its write points, in a forked child against a real ledger, witness file and BentoML store. Then
the ledger verifies, or `recover` makes it verify; no complete signed line is lost; and the release can
still be finished. Torn writes and damage a crash cannot cause are handled too."""

from __future__ import annotations

import contextlib
import os
import signal
import traceback
from pathlib import Path

import pytest

from release import durable
from release.decisions import start_ledger
from release.events import CandidateState, Event
from release.ledger import Ledger
from release.package import package_candidate, store_heads
from release.recover import RecoveryError, recover
from release.witness import FileWitness
from tests.release.releases import decide, make_run
from tests.release.test_durable import documented_points

FILES = ("encoder.pt", "evaluation.json", "probes/ef/seed-0.pt")
POINTS = len(FILES) + len(documented_points()) - 1  # candidate-file once per file


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


def _release(ledger: Ledger, keys, run: Path) -> None:
    from release.decisions import register_candidate

    cid = register_candidate(
        ledger,
        signer=keys.signer("alice"),
        files={n: run / n for n in FILES},
        model_version="v1",
        data_version="d1",
        git_commit="c0ffee",
        gates=[{"name": "ef_mae", "value": 8.0, "threshold": 10.0, "passed": True}],
        metrics={},
        params={},
    )
    decide(ledger, keys, cid)
    package_candidate(ledger, cid, signer=keys.signer("alice"))


def _killed_at(point: int, phase: str, ledger: Ledger, keys, run: Path) -> bool:
    """Run the release path in a forked child that SIGKILLs itself at write `point` (1-based) `phase`."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        seen = [0]

        def hook(label: str, when: str) -> None:
            seen[0] += when == "before"
            if seen[0] == point and when == phase:
                os.kill(os.getpid(), signal.SIGKILL)

        durable.set_fault_hook(hook)
        try:
            _release(ledger, keys, run)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"child exited {status}"
    return True


def _complete_lines(path: Path) -> list[bytes]:
    data = path.read_bytes() if path.exists() else b""
    return data.split(b"\n")[: data.count(b"\n")]


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("point", range(1, POINTS + 1))
def test_a_kill_at_any_write_point_is_recoverable(tmp_path: Path, keys, point: int, phase: str) -> None:
    import bentoml  # noqa: F401  (imported before the fork, as a worker would have it)

    run = make_run(tmp_path, 1)
    with store(tmp_path / "bentoml"):
        ledger = Ledger(
            tmp_path / "registry" / "ledger.jsonl",
            witnesses=[FileWitness(tmp_path / "witness")],
            store_heads=store_heads,
        )
        start_ledger(ledger, keys.signer("dana"), keys.signers())
        _killed_at(point, phase, ledger, keys, run)
        before = _complete_lines(ledger.path)
        if not ledger.verify().ok:
            done = recover(ledger, keys.signer("alice"), model_name="echojepa", stale_s=0)
            assert done.actions and done.entry["event"] == Event.RECOVERED
        result = ledger.verify()
        assert result.ok, result
        assert _complete_lines(ledger.path)[: len(before)] == before  # no complete signed line lost
        recover(ledger, keys.signer("alice"), model_name="echojepa", stale_s=0)  # also tidies orphan folders
        assert ledger.verify().ok and ledger.verify().notes == ()
        # the release can be finished from wherever the kill left it
        candidates = ledger.candidates()
        if not candidates:
            _release(ledger, keys, run)
        elif candidates[0].state == CandidateState.PENDING:
            decide(ledger, keys, candidates[0].candidate_id)
        if ledger.candidates()[0].state == CandidateState.APPROVED:
            package_candidate(ledger, ledger.candidates()[0].candidate_id, signer=keys.signer("alice"))
        assert ledger.production() == "v1" and ledger.verify().ok
        assert sorted(p.name for p in ledger.candidates_dir.iterdir()) == [
            ledger.candidates()[0].candidate_id
        ]


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
