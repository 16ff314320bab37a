"""Packaging into an isolated BentoML store from the frozen files only; production through the verified
ledger; rollback by two people; a deleted last line (rollback, rejection, expiry) named by the witness;
two candidates from one run folder each packaging their own bytes; export to a moto S3 server."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from release.decisions import DecisionError, record_expiry, sign_decision
from release.events import CandidateState
from release.ledger import Ledger
from release.ledger_chain import canonical_json, sha256_file
from release.package import (
    PackageError,
    export_model,
    package_candidate,
    production_model,
    rollback,
    store_heads,
)
from tests.release.releases import FAILED, decide, make_run, register, release
from tests.s3_servers import moto_s3


def _cut_last_line(path: Path) -> None:
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


def test_package_copies_the_frozen_files_and_promotes(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys
) -> None:
    import bentoml

    cid, tag = release(ledger, keys, tmp_path, 1)
    model = bentoml.models.get(tag)
    assert str(bento_home) in model.path and model.info.labels == {
        "candidate": cid,
        "stage": "production-candidate",
    }
    entries = ledger.entries()
    assert [e["event"] for e in entries] == [
        "signers-changed",
        "candidate",
        "approved",
        "packaged",
        "promoted",
    ]
    meta = model.info.metadata
    assert meta["ledger_head"] == ledger.head() and meta["ledger_lines"] == [
        canonical_json(e) for e in entries[-2:]
    ]
    assert meta["candidate_id"] == cid and meta["test.ef_mae.mean"] == 8.1 and "note" not in meta
    manifest = ledger.candidate(cid).manifest
    assert entries[-2]["files"] == manifest and len(manifest) == 8
    assert all(sha256_file(Path(model.path) / name) == digest for name, digest in manifest.items())
    assert store_heads() == {ledger.head(): tag} and ledger.verify().ok
    assert (
        production_model(ledger).tag == model.tag and ledger.candidate(cid).state == CandidateState.PRODUCTION
    )
    with pytest.raises(DecisionError, match="already packaged"):
        package_candidate(ledger, cid, signer=keys.signer("alice"))


def test_only_approved_candidates_are_packaged(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys
) -> None:
    import bentoml

    failed = register(ledger, keys, make_run(tmp_path, 2), "v2", gates=FAILED)
    pending = register(ledger, keys, make_run(tmp_path, 3), "v3")
    with pytest.raises(DecisionError, match=r"failed gate\(s\) margin_vs_mean"):
        package_candidate(ledger, failed, signer=keys.signer("alice"))
    with pytest.raises(DecisionError, match="is pending"):
        package_candidate(ledger, pending, signer=keys.signer("alice"))
    assert bentoml.models.list() == [] and production_model(ledger) is None


def test_a_probe_changed_after_registration_is_refused(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys
) -> None:
    import bentoml

    run = make_run(tmp_path, 1)
    cid = register(ledger, keys, run, "v1")
    (run / "probes" / "ef" / "seed-0.pt").write_bytes(
        b"a `dvc repro probe` during the wait"
    )  # not what is packaged
    frozen = ledger.candidates_dir / cid / "probes" / "view" / "seed-0.pt"
    frozen.chmod(0o644)
    frozen.write_bytes(b"edited in the registry")
    decide(ledger, keys, cid)
    with pytest.raises(PackageError, match=f"frozen files of {cid}: probes/view/seed-0.pt differs"):
        package_candidate(ledger, cid, signer=keys.signer("alice"))
    assert bentoml.models.list() == [] and ledger.candidate(cid).state == CandidateState.APPROVED
    frozen.write_bytes(b"view-probe-1")  # restored: the reviewed bytes, not the run folder's, are packaged
    tag = package_candidate(ledger, cid, signer=keys.signer("alice"))
    assert Path(bentoml.models.get(tag).path_of("probes/ef/seed-0.pt")).read_bytes() == b"ef-probe-1"


def _package(ledger_path: str, witness: str, key: str, cid: str) -> None:
    from release.signing import Signer
    from release.witness import FileWitness

    package_candidate(Ledger(ledger_path, witnesses=[FileWitness(witness)]), cid, signer=Signer(key))


def test_two_candidates_from_one_run_folder_package_their_own_files(
    bento_home: Path, ledger: Ledger, ledger_path: Path, witness_dir: Path, tmp_path: Path, keys
) -> None:
    import bentoml

    run = make_run(tmp_path, 1)
    first = register(ledger, keys, run, "v1")
    make_run(tmp_path, 1)  # the second run writes the same folder ...
    (run / "probes" / "ef" / "seed-0.pt").write_bytes(b"second run's probe")
    second = register(ledger, keys, run, "v2", who="bob")
    decide(ledger, keys, first, reviewer="carol")
    decide(ledger, keys, second, reviewer="alice", by="bob")
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_package, args=(str(ledger_path), str(witness_dir), str(keys.path(who)), cid))
        for who, cid in (("alice", first), ("bob", second))
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    probes = {
        m.info.metadata["candidate_id"]: Path(m.path_of("probes/ef/seed-0.pt")).read_bytes()
        for m in bentoml.models.list()
    }
    assert probes == {first: b"ef-probe-1", second: b"second run's probe"} and ledger.verify().ok


def test_rollback_needs_a_reviewer_and_a_second_person(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys
) -> None:
    with pytest.raises(DecisionError, match="no previous production"):
        sign_decision(ledger, keys.signer("bob"), "rollback", reason="bad")
    (c1, _), (c2, t2), (c3, _) = (release(ledger, keys, tmp_path, s) for s in (1, 2, 3))
    with pytest.raises(DecisionError, match="a rollback needs a reason"):
        sign_decision(ledger, keys.signer("bob"), "rollback", reason=" ")
    text = sign_decision(ledger, keys.signer("bob"), "rollback", reason="EF drift on device X")
    with pytest.raises(DecisionError, match="one person is not allowed"):
        rollback(ledger, text, signer=keys.signer("bob"))
    with pytest.raises(DecisionError, match="cannot roll back"):
        rollback(
            ledger,
            sign_decision(
                ledger, keys.signer("bob"), "approve", register(ledger, keys, make_run(tmp_path, 9), "v9")
            ),
            signer=keys.signer("alice"),
        )
    assert (
        rollback(ledger, text, signer=keys.signer("alice")) == "v2"
        and str(production_model(ledger).tag) == t2
    )
    last = ledger.entries()[-1]
    assert (last["event"], last["from_model_version"], last["reviewer"], last["signer"]) == (
        "rollback",
        "v3",
        "bob",
        "alice",
    )
    with pytest.raises(DecisionError, match="another production state"):  # the same document, replayed
        rollback(ledger, text, signer=keys.signer("alice"))
    again = sign_decision(ledger, keys.signer("carol"), "rollback", reason="v2 also bad")
    assert rollback(ledger, again, signer=keys.signer("bob")) == "v1"
    assert ledger.history() == ["v1", "v2", "v3", "v2", "v1"] and ledger.verify().ok
    states = {c.candidate_id: c.state for c in ledger.candidates() if c.candidate_id in (c1, c2, c3)}
    assert states == {c1: "production", c2: "retired", c3: "retired"}


def test_a_rollback_line_pointing_elsewhere_is_named(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys
) -> None:
    """bob signs a rollback to v2; the line alice writes names v1's model instead."""
    from tests.release.test_ledger_rules import forge

    (_, t1), _, _ = (release(ledger, keys, tmp_path, s) for s in (1, 2, 3))
    text = sign_decision(ledger, keys.signer("bob"), "rollback", reason="drift")
    target = ledger.previous_production()
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-initiator",
        "rollback",
        candidate_id=target["candidate_id"],
        model_version=target["model_version"],
        bento_tag=t1,
        reviewer="bob",
        reason="drift",
        comment="",
        decision=text,
    )
    result = ledger.verify()
    assert (result.ok, result.line) == (
        False,
        line,
    ) and f"rollback to {t1}, not to the previous" in result.reason


def test_a_rolled_back_model_cannot_be_promoted_again_by_hand(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys
) -> None:
    """After a reviewer's rollback from v2, alice re-appends v2's `promoted` line (re-signed, re-chained)."""
    from tests.release.test_ledger_rules import forge

    release(ledger, keys, tmp_path, 1)
    c2, t2 = release(ledger, keys, tmp_path, 2)
    rollback(
        ledger,
        sign_decision(ledger, keys.signer("bob"), "rollback", reason="drift"),
        signer=keys.signer("alice"),
    )
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-initiator",
        "promoted",
        candidate_id=c2,
        model_version="v2",
        bento_tag=t2,
        reviewer="bob",
    )
    result = ledger.verify()
    assert (result.ok, result.line) == (
        False,
        line,
    ) and "does not follow its own packaged line" in result.reason


def test_deleting_the_rollback_line_is_named_and_production_refused(
    bento_home: Path, ledger: Ledger, ledger_path: Path, tmp_path: Path, keys
) -> None:
    (_, t1), (_, t2) = release(ledger, keys, tmp_path, 1), release(ledger, keys, tmp_path, 2)
    rollback(
        ledger,
        sign_decision(ledger, keys.signer("bob"), "rollback", reason="drift"),
        signer=keys.signer("alice"),
    )
    assert str(production_model(ledger).tag) == t1
    n = len(ledger.entries())
    _cut_last_line(ledger_path)
    assert ledger.production_entry()["bento_tag"] == t2  # an unverified read would serve v2 again
    result = ledger.verify()
    assert (result.ok, result.line) == (False, n) and f"line {n} deleted" in result.reason
    with pytest.raises(PackageError, match=f"line {n}"):
        production_model(ledger)


@pytest.mark.parametrize("decision", ["rejected", "expired"])
def test_deleting_a_closing_line_does_not_reopen_the_candidate(
    ledger: Ledger, ledger_path: Path, tmp_path: Path, keys, decision: str
) -> None:
    cid = register(ledger, keys, make_run(tmp_path, 1), "v1")
    if decision == "rejected":
        decide(ledger, keys, cid, "reject", reason="no")
    else:
        record_expiry(ledger, cid, 3600.0, signer=keys.signer("alice"))
    _cut_last_line(ledger_path)
    assert ledger.candidate(cid).state == CandidateState.PENDING  # unverified: looks open again
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 3) and "line 3 deleted" in result.reason
    with pytest.raises(DecisionError, match="line 3"):
        sign_decision(ledger, keys.signer("bob"), "approve", cid)


def test_export_to_s3(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bentoml

    _, tag = release(ledger, keys, tmp_path, 1)
    with moto_s3() as endpoint:
        for key, value in endpoint.env().items():
            monkeypatch.setenv(key, value)
        endpoint.client().create_bucket(Bucket="models-export")
        url = export_model(tag, "s3://models-export/echojepa/", endpoint_url=endpoint.url)
        name, version = tag.split(":")
        assert url == f"s3://models-export/echojepa/{name}-{version}.bentomodel"
        local = tmp_path / "back.bentomodel"
        endpoint.client().download_file("models-export", url.split("/", 3)[3], str(local))
        with pytest.raises(PackageError, match=r"upload of .* failed: .*NoSuchBucket"):
            export_model(tag, "s3://missing-bucket/x.bentomodel")
    bentoml.models.delete(tag)
    bentoml.models.import_model(str(local))  # the exported archive restores the model, head and lines
    assert bentoml.models.get(tag).info.metadata["ledger_head"] == ledger.head()
    with pytest.raises(PackageError, match="s3://"):
        export_model(tag, "/tmp/x")
