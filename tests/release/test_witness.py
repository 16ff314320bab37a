"""Witnesses: a deleted tail or a rewritten line is named; a witness lagging after a crash is only noted;
the S3 witness (moto's server, Object Lock in COMPLIANCE mode, If-None-Match) still catches a truncation
after both the ledger and the local witness file were cut, and keeps its first version of every head."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.ledger import Ledger
from release.witness import FileWitness, S3Witness, WitnessError, compare, outside_repository
from tests.s3_servers import locked_bucket_on, moto_s3

HEADS = [f"{i:064x}" for i in range(1, 6)]


def _cut_last_line(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))


def test_file_witness_names_deleted_and_rewritten_lines(tmp_path: Path) -> None:
    witness = FileWitness(tmp_path / "w")
    assert compare(witness, "g", HEADS).line is None  # nothing witnessed yet
    witness.publish("g", list(enumerate(HEADS[:3], start=1)))
    witness.publish("g", [(3, HEADS[2])])  # a repeat after a crash is fine ...
    with pytest.raises(WitnessError, match="another head for line 3"):
        witness.publish("g", [(3, HEADS[4])])  # ... a different head for a witnessed line is not
    lagging = compare(witness, "g", HEADS)
    assert (lagging.line, lagging.latest_seq) == (None, 3)  # two lines not witnessed yet: fine
    cut = compare(witness, "g", HEADS[:1])
    assert cut.line == 2 and "lines 2-3 deleted" in cut.reason
    # in a chain, rewriting line 2 changes every later hash too; the first difference is named
    rewritten = compare(witness, "g", [HEADS[0], "e" * 64, "f" * 64])
    assert rewritten.line == 2 and "rewritten" in rewritten.reason
    with witness.path("g").open("a") as fh:
        fh.write("4 abc")  # a torn witness write: skipped, and the next head starts a new line
    witness.publish("g", [(4, HEADS[3])])
    assert witness.latest("g") == (4, HEADS[3])


def test_the_witness_folder_must_be_outside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    ledger = repo / "registry" / "ledger.jsonl"
    with pytest.raises(WitnessError, match="inside the repository"):
        outside_repository(repo / "witness", ledger)
    assert outside_repository(tmp_path / "elsewhere", ledger) == (tmp_path / "elsewhere").resolve()


def test_ledger_names_its_deleted_last_line(ledger: Ledger, ledger_path: Path, keys) -> None:
    for i in range(3):
        ledger.append(keys.signer("alice"), "candidate", candidate_id=f"cand-{i}", model_version=f"v{i}")
    _cut_last_line(ledger_path)
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 4) and "line 4 deleted" in result.reason


def test_a_witness_lagging_after_a_crash_is_noted_and_caught_up(
    ledger: Ledger, ledger_path: Path, keys
) -> None:
    head_file = ledger.witnesses[0].path(ledger.entries()[0]["hash"])
    ledger.append(keys.signer("alice"), "candidate", candidate_id="cand-1", model_version="v1")
    _cut_last_line(head_file)  # as if killed between the ledger write and the witness write
    result = ledger.verify()
    assert result.ok and result.notes == ("witness file has not seen lines 2-2 yet",)
    ledger.append(keys.signer("alice"), "candidate", candidate_id="cand-2", model_version="v2")
    assert len(head_file.read_text().splitlines()) == 3 and ledger.verify().notes == ()


@pytest.fixture
def locked_bucket(monkeypatch: pytest.MonkeyPatch):
    """(endpoint, bucket): a fresh Object Lock bucket (moto keeps its state per process: fresh names)."""
    with moto_s3() as endpoint:
        for key, value in endpoint.env().items():
            monkeypatch.setenv(key, value)
        bucket = locked_bucket_on(endpoint, "witness")
        endpoint.client().create_bucket(Bucket=f"plain-{bucket}")
        yield endpoint, bucket


def test_s3_witness_writes_locked_objects_once(locked_bucket) -> None:
    endpoint, bucket = locked_bucket
    client = endpoint.client()
    witness = S3Witness(f"s3://{bucket}/echojepa", retention_days=1, endpoint_url=endpoint.url)
    witness.publish("g", [(1, HEADS[0]), (2, HEADS[1])])
    witness.publish("g", [(2, HEADS[1])])  # republished after a crash: If-None-Match refuses, same head
    with pytest.raises(WitnessError, match="another head for line 2"):
        witness.publish("g", [(2, HEADS[3])])
    head = client.head_object(Bucket=bucket, Key="echojepa/g/000000000002")
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ContentLength"] == 64
    version = client.list_object_versions(Bucket=bucket, Prefix="echojepa/g/000000000002")["Versions"][0]
    with pytest.raises(Exception, match="AccessDenied"):  # locked: not even the owner deletes it
        client.delete_object(Bucket=bucket, Key="echojepa/g/000000000002", VersionId=version["VersionId"])
    client.delete_object(Bucket=bucket, Key="echojepa/g/000000000002")  # a delete marker ...
    client.put_object(
        Bucket=bucket, Key="echojepa/g/000000000002", Body=HEADS[4].encode()
    )  # ... a new version
    assert witness.latest("g") == (2, HEADS[1])  # the first, locked version is the one that counts
    with pytest.raises(WitnessError, match="Object Lock"):
        S3Witness(f"s3://plain-{bucket}/", endpoint_url=endpoint.url).publish("g", [(1, HEADS[0])])


def test_s3_witness_catches_a_truncation_of_ledger_and_local_witness(
    ledger_path: Path, witness_dir: Path, keys, locked_bucket
) -> None:
    """The same OS user cuts the ledger's last line and the local witness file's: S3 still knows."""
    from release.decisions import start_ledger

    local = FileWitness(witness_dir)
    endpoint, bucket = locked_bucket
    remote = S3Witness(f"s3://{bucket}/heads/", retention_days=1, endpoint_url=endpoint.url)
    ledger = Ledger(ledger_path, witnesses=[local, remote])
    start_ledger(ledger, keys.signer("dana"), keys.signers())
    for i in range(2):
        ledger.append(keys.signer("alice"), "candidate", candidate_id=f"cand-{i}", model_version=f"v{i}")
    assert ledger.verify().ok
    _cut_last_line(ledger_path)
    _cut_last_line(local.path(ledger.entries()[0]["hash"]))
    assert Ledger(ledger_path, witnesses=[local]).verify().ok  # the local file alone is fooled
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 3) and "S3 witness recorded 3 lines" in result.reason


def test_s3_witness_catches_a_ledger_started_afresh(ledger_path: Path, keys, locked_bucket) -> None:
    """Replacing the whole ledger (a new line 1 naming the replacer's own signers) leaves the old heads."""
    from release.decisions import start_ledger

    endpoint, bucket = locked_bucket
    remote = S3Witness(f"s3://{bucket}/prod/", retention_days=1, endpoint_url=endpoint.url)
    first = Ledger(ledger_path, witnesses=[remote])
    start_ledger(first, keys.signer("dana"), keys.signers())
    ledger_path.unlink()
    start_ledger(first, keys.signer("dana"), keys.signers("# a fresh start\n"))
    result = first.verify()
    assert (result.ok, result.line) == (False, 1) and "holds the heads of another ledger" in result.reason
