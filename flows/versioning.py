"""Data versioning through DVC's own command line, with its failures turned into one clear line.

DVC reports a wrong S3 key as "unexpected error - Forbidden: An error occurred (403) when calling the
HeadObject operation" plus a support banner; users need to know it is their credentials and where those
come from (the environment or .dvc/config.local, never the committed .dvc/config).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CREDENTIALS_HINT = (
    "check the remote's credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment, or "
    "`dvc remote modify --local REMOTE access_key_id|secret_access_key` (.dvc/config.local, never committed)"
)
_DENIED = re.compile(r"Forbidden|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|\(403\)|\(401\)")
_UNREACHABLE = re.compile(r"Could not connect|Connection refused|EndpointConnectionError|Name or service")
_NO_BUCKET = re.compile(r"NoSuchBucket|bucket does not exist|\(404\)")


class VersioningError(RuntimeError):
    """A DVC command failed; the message is one line naming the cause."""


def dvc(*args: str, cwd: Path | None = None, remote: str | None = None) -> str:
    """Run `dvc ARGS` (the venv's DVC) and return its stdout.

    Raises:
        VersioningError: one line: access denied (with where credentials come from), endpoint
            unreachable, missing bucket, or DVC's own last error line.
    """
    cmd = [sys.executable, "-m", "dvc", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if done.returncode == 0:
        return done.stdout
    text = done.stderr + done.stdout
    what = f"dvc {' '.join(args)}" + (f" (remote {remote!r})" if remote else "")
    if _DENIED.search(text):
        raise VersioningError(f"{what}: access denied by the storage server — {CREDENTIALS_HINT}")
    if _UNREACHABLE.search(text):
        raise VersioningError(f"{what}: the storage endpoint is unreachable — check the remote's endpointurl")
    if _NO_BUCKET.search(text):
        raise VersioningError(f"{what}: the bucket does not exist — create it or fix the remote's url")
    raise VersioningError(f"{what}: {_last_error(text)}")


def _last_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "dvc.org/support" not in ln]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["failed with no output"])[-1].removeprefix("ERROR: ")


def push(remote: str | None = None, cwd: Path | None = None) -> str:
    """Upload every DVC-tracked output (data, models) to a remote (default: the configured default)."""
    return dvc("push", *(["-r", remote] if remote else []), cwd=cwd, remote=remote)


def pull(remote: str | None = None, cwd: Path | None = None) -> str:
    """Download DVC-tracked outputs from a remote into the workspace."""
    return dvc("pull", *(["-r", remote] if remote else []), cwd=cwd, remote=remote)


def add(path: Path, cwd: Path | None = None) -> str:
    """Track a folder with `dvc add` (writes PATH.dvc, which goes into git)."""
    return dvc("add", "--quiet", str(path), cwd=cwd)


def git_commit() -> str:
    """HEAD's commit, with `-dirty` when the working tree differs from it; `unknown` outside git."""
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if done.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], capture_output=True).returncode != 0
    return done.stdout.strip() + ("-dirty" if dirty else "")


def data_version(lock: Path = Path("dvc.lock")) -> str:
    """What the model saw: md5 over the data dependencies of dvc.lock's validate and prepare stages
    (their content hashes); without a lock, the git commit plus `no-lock`."""
    import hashlib
    import json

    import yaml

    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}) if lock.is_file() else {}
    deps = sorted(
        (d["path"], d.get("md5", ""))
        for name in ("validate", "prepare")
        for d in stages.get(name, {}).get("deps", [])
        if str(d.get("path", "")).startswith("data/")
    )
    if deps:
        return "data-" + hashlib.md5(json.dumps(deps).encode()).hexdigest()[:16]
    return f"{git_commit()}+no-lock"
