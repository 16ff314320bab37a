"""Two release runs at once: registrations and packagings race in two processes against one ledger, one
witness and one BentoML store. Each candidate is frozen under its own id at registration, so each
packages its own files even when its run folder is overwritten afterwards (the next run writing the
same layout); the ledger's lock serialises the appends, and the chain and the witness agree."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from release.package import package_candidate, store_heads
from release.witness import FileWitness
from tests.release.releases import decide, make_run, register
from tests.release.test_recover import store


def _open(tmp_path: Path):
    from release.ledger import Ledger

    return Ledger(
        tmp_path / "registry" / "ledger.jsonl",
        witnesses=[FileWitness(tmp_path / "witness")],
        store_heads=store_heads,
    )


def _in_two_processes(target, args_a: tuple, args_b: tuple) -> list:
    """Run target(barrier, queue, *args) in two forked processes released together; their results."""
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(barrier, queue, *a)) for a in (args_a, args_b)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, p.exitcode
    errors = [r for r in results if isinstance(r, str) and r.startswith("error:")]
    assert not errors, errors
    return results


def _register(barrier, queue, tmp_path: Path, keys, seed: int) -> None:
    try:
        ledger = _open(tmp_path)
        run = make_run(tmp_path / "runs", seed)
        barrier.wait(timeout=30)
        queue.put((seed, register(ledger, keys, run, f"v{seed}")))
    except BaseException as exc:
        queue.put(f"error: {exc!r}")


def _package(barrier, queue, tmp_path: Path, keys, cid: str) -> None:
    try:
        with store(tmp_path / "bentoml"):
            ledger = _open(tmp_path)
            barrier.wait(timeout=30)
            queue.put((cid, package_candidate(ledger, cid, signer=keys.signer("alice"))))
    except BaseException as exc:
        queue.put(f"error: {exc!r}")


def test_two_concurrent_candidates_each_package_their_own_files(tmp_path: Path, keys) -> None:
    import bentoml

    from release.decisions import start_ledger

    ledger = _open(tmp_path)
    start_ledger(ledger, keys.signer("dana"), keys.signers())
    registered = dict(_in_two_processes(_register, (tmp_path, keys, 1), (tmp_path, keys, 2)))
    assert len(set(registered.values())) == 2 and ledger.verify().ok
    assert sorted(c.model_version for c in ledger.candidates()) == ["v1", "v2"]
    for seed in (1, 2):  # later runs overwrite the run folders; the candidates' frozen files stay
        for name in ("encoder.pt", "probes/ef/seed-0.pt"):
            (tmp_path / "runs" / f"run{seed}" / name).write_bytes(b"a later run's file")
    for cid in registered.values():
        decide(ledger, keys, cid)
    tags = dict(_in_two_processes(_package, (tmp_path, keys, registered[1]), (tmp_path, keys, registered[2])))
    result = ledger.verify()
    assert result.ok and result.notes == (), result
    events = [e["event"] for e in ledger.entries()]
    assert events.count("packaged") == 2 and events.count("promoted") == 2
    with store(tmp_path / "bentoml"):
        for seed, cid in registered.items():
            model = bentoml.models.get(tags[cid])
            assert Path(model.path, "encoder.pt").read_bytes() == bytes([seed]) * 64
            assert Path(model.path, "probes/ef/seed-0.pt").read_bytes() == b"ef-probe-%d" % seed
            assert model.info.metadata["candidate_id"] == cid
