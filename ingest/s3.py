"""Download an `s3://bucket/prefix` source into a staging folder, to be ingested like a local folder.

Any S3-compatible store works: the endpoint comes from the argument, else ECHOJEPA_S3_ENDPOINT, else
AWS_ENDPOINT_URL (else AWS itself). Credentials come only from boto3's standard chain (environment, profile,
instance role), never from arguments, so they never land in shell history, params.yaml or run configs.
Every failure a user can cause (wrong key, missing bucket, empty prefix, unreachable endpoint) becomes a
one-line IngestError; a botocore traceback tells a user nothing they can act on.

The staging folder holds raw (identifiable) DICOMs, so none may outlive its ingest: it is removed when the
ingest ends, and one left by a killed ingest (`data/raw/.ingest-s3-*`) is removed by the next ingest into
the same folder. Which ingest owns a folder is recorded in it (pid, host, process start time): a folder
whose owner still runs, a concurrent ingest, is kept; the start time tells a reused pid apart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from ingest.common import IngestError

log = logging.getLogger(__name__)

STAGING_PREFIX = ".ingest-s3-"  # + <pid>-<random>: the raw downloads of one ingest, beside its output
OWNER_FILE = "owner.json"  # pid, host and process start time of the ingest that owns the folder
OBJECTS = "objects"  # the downloaded tree, kept apart from the owner file (ingested as a local folder)
ENDPOINT_ENVS = ("ECHOJEPA_S3_ENDPOINT", "AWS_ENDPOINT_URL")
CREDENTIALS_HINT = "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
DENIED_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
    "403", "Forbidden", "AuthorizationHeaderMalformed", "InvalidClientTokenId",
}  # fmt: skip
MISSING_BUCKET_CODES = {"NoSuchBucket", "404", "NotFound"}


def is_s3_url(src: str | Path) -> bool:
    """Whether a source names an S3 prefix."""
    return isinstance(src, str) and src.startswith("s3://")


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix`; the prefix is "" or ends with "/" (a folder, so
    `s3://b/data` never picks up `data2/`).

    Raises:
        IngestError: no bucket name.
    """
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise IngestError(f"{without_userinfo(url)}: no bucket name (expected s3://bucket/prefix)")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def resolve_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint argument, else the first of ECHOJEPA_S3_ENDPOINT / AWS_ENDPOINT_URL that is set."""
    if endpoint_url:
        return endpoint_url
    return next((os.environ[e] for e in ENDPOINT_ENVS if os.environ.get(e)), None)


def _client(endpoint: str | None):
    import boto3
    from botocore.config import Config

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region, config=config)


def without_userinfo(url: str | None) -> str | None:
    """`url` with any `user:password@` removed from its authority: credentials put in an endpoint URL
    must not reach an error message, a log or a terminal."""
    if not url or "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an endpoint URL that cannot be parsed)"
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _as_ingest_error(url: str, endpoint: str | None, exc: Exception) -> IngestError:
    """One line a user can act on, for any boto3/botocore failure (no URL user-info in it)."""
    url, endpoint = without_userinfo(url), without_userinfo(endpoint)
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return IngestError(f"{url}: no S3 credentials found — set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return IngestError(f"{url}: cannot reach the S3 endpoint {endpoint or '(AWS default)'}")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?"))
        if code in DENIED_CODES:
            return IngestError(f"{url}: access denied ({code}) — {CREDENTIALS_HINT}")
        if code in MISSING_BUCKET_CODES:
            return IngestError(f"{url}: bucket or object not found ({code})")
        return IngestError(f"{url}: S3 error ({code})")
    return IngestError(f"{url}: S3 request failed ({type(exc).__name__})")


def _local_path(staging: Path, rel: str, url: str) -> Path:
    """Where an object lands under `staging`; keys that would escape it (`..`, absolute) are refused."""
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or any(p in ("..", ".") for p in parts):
        raise IngestError(f"{without_userinfo(url)}: object key {rel!r} is not a safe relative path")
    return staging.joinpath(*parts)


def download_prefix(
    url: str,
    staging: Path,
    *,
    endpoint_url: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Download every object under `url` into `staging` (keys relative to the prefix); the object count.

    `on_progress(bytes_done, bytes_total)` is called as bytes arrive.

    Raises:
        IngestError: bad URL, no credentials, access denied, no bucket, empty prefix, unreachable endpoint.
    """
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_url(url)
    endpoint = resolve_endpoint(endpoint_url)
    try:
        client = _client(endpoint)
        objects: list[tuple[str, int]] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects += [
                (o["Key"], int(o["Size"])) for o in page.get("Contents", []) if not o["Key"].endswith("/")
            ]
        if not objects:
            raise IngestError(f"{without_userinfo(url)}: no objects under this prefix (empty or misspelled?)")
        total, done = sum(size for _, size in objects), 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if on_progress:
                on_progress(done, total)

        for key, _ in sorted(objects):
            dest = _local_path(staging, key[len(prefix) :], url)
            dest.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(dest), Callback=advance)
    except (BotoCoreError, ClientError, Boto3Error) as exc:
        raise _as_ingest_error(url, endpoint, exc) from None
    except ValueError as exc:  # botocore refuses a malformed endpoint URL with a ValueError
        if isinstance(exc, IngestError):
            raise
        raise IngestError(
            f"{without_userinfo(url)}: invalid S3 endpoint {without_userinfo(endpoint)!r}"
        ) from None
    return len(objects)


def _start_time(pid: int) -> str | None:
    """The process's start (clock ticks since boot, /proc/<pid>/stat field 22); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name, which may hold spaces


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid())}


def owner_alive(folder: Path) -> bool:
    """Whether the ingest that made a staging folder may still be running (kept when unsure: another
    host's, or unreadable)."""
    try:
        owner = json.loads((folder / OWNER_FILE).read_text())
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):  # not written yet: judge by the pid in the name
        owner = {}
        pid_text = folder.name.removeprefix(STAGING_PREFIX).split("-")[0]
        if not pid_text.isdigit():
            return True
        pid = int(pid_text)
    if owner.get("host", socket.gethostname()) != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    started = owner.get("start")
    return started is None or _start_time(pid) in (None, started)


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove the staging folders under `parent` whose ingest is no longer running; those removed."""
    removed = []
    for folder in sorted(Path(parent).glob(STAGING_PREFIX + "*")):
        if folder.is_dir() and not owner_alive(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        log.info("removed %d staging folders of stopped S3 ingests", len(removed))
    return removed


@contextlib.contextmanager
def staging_folder(parent: Path) -> Iterator[Path]:
    """A fresh staging folder under `parent` recording its owner; yields where the objects go. Stale
    folders of killed ingests are removed first; this one is removed on the way out."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=parent))
    try:
        (folder / OWNER_FILE).write_text(json.dumps(_owner()))
        (folder / OBJECTS).mkdir()
        yield folder / OBJECTS
    finally:
        shutil.rmtree(folder, ignore_errors=True)
