"""Witnesses: every ledger head published where the ledger's writer cannot rewrite it.

The hash chain alone cannot see a deleted tail (a prefix of a chain is a valid chain) or a tail rewritten
by someone holding a signing key. So every append publishes the new head `(seq, hash)`, keyed by the
ledger's genesis hash (the hash of its line 1), and `Ledger.verify` compares: the witness's latest head
must be the hash of that line of the ledger (the chain then vouches for every line before it); if it is
not, the first line that differs is named, and a ledger shorter than its witness names the first deleted
line. A ledger ahead of its witness is not an error (a crash between the two writes): it is noted, and the
next append or `ledger recover` publishes the missing heads.

What each defends against:
- `FileWitness`: an append-only file outside the repository (`release.witness_dir`). It catches an
  accidental `git checkout` / restore of registry/ and someone who can write the repository but not that
  folder. It does not stop the same OS user, who can edit both.
- `S3Witness` (`release.witness_s3_url`): one object per sequence number in a bucket with S3 Object Lock
  in COMPLIANCE mode, written with `If-None-Match: *`. Nobody, not even the bucket's owner, can delete or
  replace a locked version before its retention ends; a later version or a delete marker is visible in
  the version listing, and the first (locked) version is the one that counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class WitnessError(ValueError):
    """A witness refused a head, or cannot be reached (one line)."""


class Witness(Protocol):
    name: str

    def publish(self, genesis: str, heads: Sequence[tuple[int, str]]) -> None: ...
    def latest(self, genesis: str) -> tuple[int, str] | None: ...
    def head_at(self, genesis: str, seq: int) -> str | None: ...


@dataclass(frozen=True)
class WitnessCheck:
    """A ledger compared with one witness: the first line that disagrees (None: agrees) and why, and how
    many lines at the end the witness has not seen yet."""

    line: int | None
    reason: str = ""
    latest_seq: int = 0


def publish(witnesses: Sequence[Witness], entries: Sequence[dict], seen: Mapping[str, int]) -> None:
    """Publish every head of `entries` a witness has not seen (`seen`: its latest line), one write point
    `witness` per witness. A failure comes after the ledger line was written: the error says so."""
    from release.durable import write_point

    for witness in witnesses if entries else ():
        heads = [(n, e["hash"]) for n, e in enumerate(entries, start=1) if n > seen.get(witness.name, 0)]
        if not heads:
            continue
        try:
            with write_point("witness"):
                witness.publish(entries[0]["hash"], heads)
        except WitnessError as exc:
            raise WitnessError(
                f"ledger line {len(entries)} is written, but {exc} (`ledger recover` publishes it)"
            ) from None


def compare(witness: Witness, genesis: str, hashes: Sequence[str]) -> WitnessCheck:
    """Compare the ledger's line hashes with what `witness` recorded for `genesis`."""
    others = [g for g in getattr(witness, "ledgers", lambda: [])() if g != genesis]
    if others:  # a ledger started afresh (its own line 1, its own root of trust) to hide the old one
        return WitnessCheck(
            1,
            f"{witness.name} holds the heads of another ledger (line 1 {others[0][:12]}…): "
            "this ledger replaced it",
        )
    latest = witness.latest(genesis)
    if latest is None:
        return WitnessCheck(None)
    seq, head = latest
    n = len(hashes)
    if seq <= n and hashes[seq - 1] == head:
        return WitnessCheck(None, latest_seq=seq)
    for number in range(1, min(seq, n) + 1):
        recorded = witness.head_at(genesis, number)
        if recorded is not None and recorded != hashes[number - 1]:
            return WitnessCheck(
                number,
                f"{witness.name} recorded head {recorded[:12]}… for this line, the ledger's hashes to "
                f"{hashes[number - 1][:12]}…: the line was rewritten",
                seq,
            )
    span = f"lines {n + 1}-{seq}" if seq > n + 1 else f"line {n + 1}"
    return WitnessCheck(
        n + 1, f"{witness.name} recorded {seq} lines, the ledger has {n}: {span} deleted", seq
    )


class FileWitness:
    """`<directory>/<genesis>.heads`: one `seq hash` line per head, appended and fsynced."""

    name = "witness file"

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).expanduser()

    def path(self, genesis: str) -> Path:
        return self.directory / f"{genesis}.heads"

    def _recorded(self, genesis: str) -> dict[int, str]:
        """seq -> first head recorded for it (a later, different one is ignored; lines that do not parse,
        e.g. a torn fragment, are skipped)."""
        try:
            text = self.path(genesis).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return {}
        heads: dict[int, str] = {}
        for line in text.splitlines():
            seq, _, head = line.partition(" ")
            if seq.isdigit() and len(head) == 64:
                heads.setdefault(int(seq), head)
        return heads

    def publish(self, genesis: str, heads: Sequence[tuple[int, str]]) -> None:
        from release.durable import append_durably

        recorded = self._recorded(genesis)
        fresh = []
        for seq, head in heads:
            if recorded.get(seq, head) != head:
                raise WitnessError(f"{self.path(genesis)} already holds another head for line {seq}")
            if seq not in recorded:
                fresh.append(f"{seq} {head}\n")
        if fresh:
            self.directory.mkdir(parents=True, exist_ok=True)
            data = "".join(fresh).encode("ascii")
            append_durably(self.path(genesis), data, label=None, after_torn="newline")

    def latest(self, genesis: str) -> tuple[int, str] | None:
        recorded = self._recorded(genesis)
        return (max(recorded), recorded[max(recorded)]) if recorded else None

    def head_at(self, genesis: str, seq: int) -> str | None:
        return self._recorded(genesis).get(seq)


def outside_repository(directory: Path, ledger: Path) -> Path:
    """`directory`, refused (WitnessError) when it lies inside the git work tree holding `ledger`: a witness
    the repository can rewrite (a checkout, a reset) witnesses nothing."""
    directory = Path(directory).expanduser().resolve()
    for parent in [Path(ledger).resolve().parent, *Path(ledger).resolve().parents]:
        if (parent / ".git").exists():
            if directory == parent or parent in directory.parents:
                raise WitnessError(
                    f"witness folder {directory} is inside the repository {parent}; put it outside"
                )
            break
    return directory


class S3Witness:
    """One object per head, `<prefix><genesis>/<seq:012d>` holding the hash, in an Object Lock bucket."""

    name = "S3 witness"

    def __init__(self, url: str, *, retention_days: int = 3650, endpoint_url: str | None = None) -> None:
        if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
            raise WitnessError(f"witness_s3_url must be s3://bucket[/prefix], got {url!r}")
        self.bucket, _, prefix = url[5:].partition("/")
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.retention_days, self.endpoint_url = retention_days, endpoint_url
        self._client, self._lock_checked = None, False
        self._listing: dict[int, str] | None = None  # filled by latest(), so head_at() lists once

    def client(self):
        if self._client is None:
            import boto3

            self._client = (
                boto3.client("s3", endpoint_url=self.endpoint_url)
                if self.endpoint_url
                else boto3.client("s3")
            )
        return self._client

    def _key(self, genesis: str, seq: int) -> str:
        return f"{self.prefix}{genesis}/{seq:012d}"

    def _check_lock(self) -> None:
        """Refuse a bucket without Object Lock: its objects could simply be deleted."""
        if self._lock_checked:
            return
        try:
            config = self.client().get_object_lock_configuration(Bucket=self.bucket)[
                "ObjectLockConfiguration"
            ]
        except Exception as exc:
            raise WitnessError(f"s3://{self.bucket}: no Object Lock configuration ({_short(exc)})") from None
        if config.get("ObjectLockEnabled") != "Enabled":
            raise WitnessError(f"s3://{self.bucket}: Object Lock is not enabled")
        self._lock_checked = True

    def publish(self, genesis: str, heads: Sequence[tuple[int, str]]) -> None:
        self._check_lock()
        self._listing = None
        until = datetime.now(UTC) + timedelta(days=self.retention_days)
        for seq, head in heads:
            try:
                self.client().put_object(
                    Bucket=self.bucket,
                    Key=self._key(genesis, seq),
                    Body=head.encode("ascii"),
                    IfNoneMatch="*",
                    ObjectLockMode="COMPLIANCE",
                    ObjectLockRetainUntilDate=until,
                    ContentType="text/plain",
                )
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    raise WitnessError(f"S3 witness: put of line {seq} failed ({_short(exc)})") from None
                if self.head_at(genesis, seq) != head:
                    raise WitnessError(f"S3 witness already holds another head for line {seq}") from None

    def ledgers(self) -> list[str]:
        """The genesis hashes under this prefix: one per ledger (the prefix belongs to one deployment)."""
        try:
            pages = (
                self.client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
            )
            found = [
                p["Prefix"][len(self.prefix) :].rstrip("/")
                for page in pages
                for p in page.get("CommonPrefixes", [])
            ]
        except Exception as exc:
            raise WitnessError(
                f"S3 witness: listing s3://{self.bucket}/{self.prefix} failed ({_short(exc)})"
            ) from None
        return sorted(found)

    def _first_versions(self, genesis: str) -> dict[int, str]:
        """seq -> VersionId of the key's first version (listings are newest first: the last one)."""
        pages = (
            self.client()
            .get_paginator("list_object_versions")
            .paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{genesis}/")
        )
        first: dict[int, str] = {}
        try:
            for page in pages:
                for version in page.get("Versions", []):
                    seq = version["Key"].rsplit("/", 1)[-1]
                    if seq.isdigit():
                        first[int(seq)] = version["VersionId"]
        except Exception as exc:
            raise WitnessError(
                f"S3 witness: listing s3://{self.bucket}/{self.prefix} failed ({_short(exc)})"
            ) from None
        return first

    def _read(self, genesis: str, seq: int, version: str) -> str:
        try:
            body = self.client().get_object(
                Bucket=self.bucket, Key=self._key(genesis, seq), VersionId=version
            )
            return body["Body"].read().decode("ascii", errors="replace")
        except Exception as exc:
            raise WitnessError(f"S3 witness: reading line {seq} failed ({_short(exc)})") from None

    def latest(self, genesis: str) -> tuple[int, str] | None:
        first = self._listing = self._first_versions(genesis)
        if not first:
            return None
        seq = max(first)
        return seq, self._read(genesis, seq, first[seq])

    def head_at(self, genesis: str, seq: int) -> str | None:
        version = (self._listing if self._listing is not None else self._first_versions(genesis)).get(seq)
        return None if version is None else self._read(genesis, seq, version)


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
