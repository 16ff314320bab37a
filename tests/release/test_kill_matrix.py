"""Crash safety over every kind of release-ledger write: v1 registered, approved, packaged and promoted; v2
the same (v1 retired); a reviewer's rollback to v1; v3 registered and rejected; v4 registered and expired;
then the release manager changes the allowed signers (carol leaves). A forked child runs it against a
real ledger, a witness file, an S3 witness (moto's server: Object Lock, If-None-Match) and a real BentoML
store, and SIGKILLs itself right before or right after one write point. Then the ledger verifies, or
`recover` makes it verify; no complete signed line is lost; the witnesses agree with the ledger; and the
path can be finished from wherever the kill left it, ending in the same state as an uninterrupted run.

The write points are counted by a hook around every write of release.durable (file copies, renames,
appends, fsyncs), the model-store create and each witness publish; the S3 witness's object writes
are wrapped too and must all fall inside a `witness` point. Their number and order must equal the
documented write points (release.durable's docstring), per witness, per release."""

from __future__ import annotations

import os
import signal
import traceback
from pathlib import Path

import pytest

from release import durable
from release.decisions import change_signers, record_expiry, register_candidate, sign_decision, start_ledger
from release.events import CandidateState, Event
from release.ledger import Ledger
from release.package import package_candidate, rollback, store_heads
from release.recover import recover
from release.witness import FileWitness, S3Witness
from tests.release.releases import decide, make_run
from tests.release.test_durable import documented_points
from tests.release.test_recover import FILES, _complete_lines, store
from tests.s3_servers import locked_bucket_on, moto_s3


def _points_of_the_path(witnesses: int) -> list[str]:
    """The documented points (each candidate file once, each witness once) of two releases; a rollback's
    `ledger` and `witness` points; a registration and its decision (points 1–6) for the rejection and for
    the expiry; a signers change's `signers-version`, `ledger` and `witness` points."""
    one: list[str] = []
    for label in documented_points():
        one += [label] * {"candidate-file": len(FILES), "witness": witnesses}.get(label, 1)
    decided = one[: one.index("model-store")]
    entry = ["ledger"] + ["witness"] * witnesses
    return one + one + entry + decided + decided + ["signers-version"] + entry


POINTS = _points_of_the_path(witnesses=2)
EXPECTED = ("v1", {"v1": "production", "v2": "retired", "v3": "rejected", "v4": "expired"}, 1, 2)


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server for the module (the environment boto3 reads set while it runs)."""
    with moto_s3() as endpoint, pytest.MonkeyPatch.context() as mp:
        for key, value in endpoint.env().items():
            mp.setenv(key, value)
        yield endpoint


def _witnesses(tmp_path: Path, s3) -> list:
    bucket = locked_bucket_on(s3, "kill")
    remote = S3Witness(f"s3://{bucket}/heads/", retention_days=1, endpoint_url=s3.url)
    return [FileWitness(tmp_path / "witness"), remote]


def _register(ledger: Ledger, keys, root: Path, seed: int) -> str:
    run = make_run(root, seed)
    return register_candidate(
        ledger,
        signer=keys.signer("alice"),
        files={n: run / n for n in FILES},
        model_version=f"v{seed}",
        data_version="d1",
        git_commit="c0ffee",
        gates=[{"name": "ef_mae", "value": 8.0, "threshold": 10.0, "passed": True}],
        metrics={},
        params={},
    )


def _roll_back(ledger: Ledger, keys) -> None:
    text = sign_decision(ledger, keys.signer("bob"), "rollback", reason="v2 regressed on site B")
    rollback(ledger, text, signer=keys.signer("alice"))


def _finish(ledger: Ledger, keys, root: Path) -> None:
    """Take the path on from any state it can be in: each release to production, then the rollback."""
    for seed in (1, 2):
        found = [c for c in ledger.candidates() if c.model_version == f"v{seed}"]
        cid = found[0].candidate_id if found else _register(ledger, keys, root, seed)
        if ledger.candidate(cid).state == CandidateState.PENDING:
            decide(ledger, keys, cid)
        if ledger.candidate(cid).state == CandidateState.APPROVED:
            package_candidate(ledger, cid, signer=keys.signer("alice"))
    if not any(e["event"] == Event.ROLLBACK for e in ledger.entries()):
        _roll_back(ledger, keys)
    for seed, ending in ((3, "reject"), (4, "expire")):
        found = [c for c in ledger.candidates() if c.model_version == f"v{seed}"]
        cid = found[0].candidate_id if found else _register(ledger, keys, root, seed)
        if ledger.candidate(cid).state != CandidateState.PENDING:
            continue
        if ending == "reject":
            decide(ledger, keys, cid, "reject", reason="EF bias in the pediatric subgroup")
        else:
            record_expiry(ledger, cid, 3600.0, signer=keys.signer("alice"))
    if [e["event"] for e in ledger.entries()].count(Event.SIGNERS_CHANGED) == 1:  # line 1 is the first
        change_signers(ledger, keys.signer("dana"), _without_carol(keys))


def _without_carol(keys) -> str:
    return keys.signers().replace(keys.line("carol"), "")


def _state(ledger: Ledger) -> tuple:
    """What an uninterrupted run ends with (ids aside)."""
    events = [e["event"] for e in ledger.entries()]
    versions = {c.model_version: str(c.state) for c in ledger.candidates()}
    return ledger.production(), versions, events.count(Event.ROLLBACK), events.count(Event.SIGNERS_CHANGED)


def _open(tmp_path: Path, keys, s3) -> Ledger:
    ledger = Ledger(
        tmp_path / "registry" / "ledger.jsonl", witnesses=_witnesses(tmp_path, s3), store_heads=store_heads
    )
    start_ledger(ledger, keys.signer("dana"), keys.signers())
    return ledger


def test_the_path_writes_exactly_at_the_documented_points(tmp_path: Path, keys, s3, monkeypatch) -> None:
    labels: list[str] = []
    current: list[str] = []
    durable.set_fault_hook(lambda label, when: (labels, current)[when == "after"].append(label))
    puts: list[list[str]] = []
    real_publish = S3Witness.publish

    def publish(self, genesis, heads):  # every S3 object write happens inside a `witness` point
        puts.append(labels[len(current) :])
        return real_publish(self, genesis, heads)

    monkeypatch.setattr(S3Witness, "publish", publish)
    with store(tmp_path / "bentoml"):
        ledger = _open(tmp_path, keys, s3)
        labels.clear()
        current.clear()
        puts.clear()
        try:
            _finish(ledger, keys, tmp_path)
        finally:
            durable.set_fault_hook(None)
        assert labels == POINTS and current == POINTS  # every point ended (no write outside one)
        assert len(puts) == POINTS.count("witness") // 2 and all(p == ["witness"] for p in puts)
        assert ledger.verify().ok and _state(ledger) == EXPECTED


def _killed_at(point: int, phase: str, ledger: Ledger, keys, root: Path) -> None:
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        seen = [0]

        def hook(label: str, when: str) -> None:
            seen[0] += when == "before"
            if seen[0] == point and when == phase:
                os.kill(os.getpid(), signal.SIGKILL)

        durable.set_fault_hook(hook)
        try:
            _finish(ledger, keys, root)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"child exited {status}"


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("point", range(1, len(POINTS) + 1))
def test_a_kill_anywhere_on_the_path_is_recoverable(tmp_path: Path, keys, s3, point: int, phase: str) -> None:
    import bentoml  # noqa: F401  (imported before the fork, as a worker would have it)

    with store(tmp_path / "bentoml"):
        ledger = _open(tmp_path, keys, s3)
        _killed_at(point, phase, ledger, keys, tmp_path)
        before = _complete_lines(ledger.path)
        if not ledger.verify().ok:
            done = recover(ledger, keys.signer("alice"), model_name="echojepa", stale_s=0)
            assert done.actions and done.entry["event"] == Event.RECOVERED
        assert ledger.verify().ok, (POINTS[point - 1], ledger.verify())
        assert _complete_lines(ledger.path)[: len(before)] == before  # no complete signed line lost
        recover(ledger, keys.signer("alice"), model_name="echojepa", stale_s=0)  # publishes lagging heads
        assert ledger.verify().notes == ()  # both witnesses hold the head
        _finish(ledger, keys, tmp_path)
        assert ledger.verify().ok and _state(ledger) == EXPECTED
        ids = sorted(c.candidate_id for c in ledger.candidates())
        assert sorted(p.name for p in ledger.candidates_dir.iterdir()) == ids
