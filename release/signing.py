"""Who signed: SSH signatures (`ssh-keygen -Y sign / -Y verify / -Y find-principals`, the mechanism git
uses for signed commits) checked against an allowed-signers file.

- A principal is a name in the allowed-signers file; its key's private half stays with that person (a
  key file, an ssh-agent, a hardware token). The principal is always what a signature verifies as, never
  an environment variable, a CLI string or a flow parameter.
- A role is an ssh-keygen namespace (`release.events.Role`); each line of the file lists its roles in a
  `namespaces="..."` option. ssh-keygen refuses a signature made for another namespace, so a reviewer
  signature cannot be replayed as a release-manager one. A line without that option would hold every
  role, so such a file is refused, as is a key listed on two lines (one person, one key: otherwise the
  key that registered could approve under a second name).
- Signatures travel as one line: the base64 body of the armored `SSH SIGNATURE` block.

`ssh-keygen` reads the allowed signers from a private copy of the verified version (`AllowedSigners.path`),
so nobody can swap the file between the hash check and the verification. Verifications are cached per
process by (signers version, role, principal, sha256 of data, signature): the ledger verifies its whole
chain on every append.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from release.events import Role

SSH_KEYGEN = "ssh-keygen"
TIMEOUT_S = 30.0
_ARMOR = ("-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----")
_KEY_TYPES = re.compile(r"^(ssh-|ecdsa-|sk-)")
_GOOD = re.compile(r"with (\S+) key (SHA256:\S+)")


class SignatureError(ValueError):
    """A signature or an allowed-signers file was refused (one line)."""


@dataclass(frozen=True)
class Verified:
    """What a good signature proves: the principal, the role it signed in and the key's fingerprint."""

    principal: str
    role: Role
    fingerprint: str


def _run(args: list[str], data: bytes = b"") -> subprocess.CompletedProcess:
    """ssh-keygen in its own session: no controlling terminal, so a passphrase prompt fails instead of
    hanging a flow run."""
    if shutil.which(SSH_KEYGEN) is None:
        raise SignatureError("ssh-keygen not found (install openssh-client)")
    return subprocess.run(
        [SSH_KEYGEN, *args], input=data, capture_output=True, timeout=TIMEOUT_S, start_new_session=True
    )


def _why(done: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()]
    lines = [ln for ln in lines if "Signing data on standard input" not in ln]
    return lines[-1].strip() if lines else f"ssh-keygen exited {done.returncode}"


@functools.cache
def _scratch() -> Path:
    """A private folder (0700) for the files ssh-keygen reads: signers copies and signatures."""
    path = Path(tempfile.mkdtemp(prefix="echojepa-signing-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def _signature_file(signature: str) -> Path:
    body = signature.strip()
    if not body or not re.fullmatch(r"[A-Za-z0-9+/=]+", body):
        raise SignatureError("not an SSH signature (expected one base64 line)")
    path = _scratch() / f"{hashlib.sha256(body.encode()).hexdigest()}.sig"
    if not path.exists():
        wrapped = "\n".join(body[i : i + 70] for i in range(0, len(body), 70))
        _write_private(path, f"{_ARMOR[0]}\n{wrapped}\n{_ARMOR[1]}\n")
    return path


def _write_private(path: Path, text: str) -> None:
    """Write a scratch file whole before anyone can read it (threads check signatures in parallel)."""
    tmp = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Signer:
    """A private key that signs: a key file, or (for a `.pub` path) the matching key in ssh-agent."""

    def __init__(self, key: Path | str) -> None:
        self.key = Path(key).expanduser()
        self.agent = self.key.suffix == ".pub"
        if not self.key.is_file():
            raise SignatureError(f"signing key {self.key} not found")

    def __repr__(self) -> str:
        return f"Signer({str(self.key)!r}{', agent' if self.agent else ''})"

    def sign(self, data: bytes, role: Role) -> str:
        """Sign `data` in namespace `role`; the signature as one base64 line."""
        done = _run(["-Y", "sign", *(["-U"] if self.agent else []), "-f", str(self.key), "-n", role], data)
        if done.returncode != 0:
            raise SignatureError(f"signing with {self.key} failed: {_why(done)}")
        lines = done.stdout.decode().strip().splitlines()
        return "".join(ln.strip() for ln in lines if ln.strip() not in _ARMOR)

    def identify(self, signers: AllowedSigners, role: Role) -> Verified:
        """The principal this key is in `signers` for `role`, proven by signing a challenge.

        Raises:
            SignatureError: the key is not listed, or not for `role`.
        """
        return _identify(self, signers, role)


@functools.cache
def _identify(signer: Signer, signers: AllowedSigners, role: Role) -> Verified:
    challenge = f"echojepa identify {signers.sha256} {role}".encode()
    signature = signer.sign(challenge, role)
    found = signers.principals_of(signature)
    for principal in found:
        try:
            return signers.verify(challenge, signature, role, principal)
        except SignatureError:
            continue
    held = f" (it is listed for {', '.join(found)} without that role)" if found else ""
    raise SignatureError(
        f"key {signer.key} may not sign as {role} in allowed signers {signers.sha256[:12]}…{held}"
    )


@dataclass(frozen=True)
class _Line:
    principals: tuple[str, ...]
    roles: frozenset[str]
    key: str


class AllowedSigners:
    """One version of the allowed-signers file, identified by the sha256 of its bytes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.lines = _parse(text)

    def __repr__(self) -> str:
        return f"AllowedSigners({self.sha256[:12]}…, {len(self.lines)} keys)"

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AllowedSigners) and other.sha256 == self.sha256

    @functools.cached_property
    def path(self) -> Path:
        """A private copy for ssh-keygen."""
        path = _scratch() / f"{self.sha256}.signers"
        if not path.exists():
            _write_private(path, self.text)
        return path

    def roles_of(self, principal: str) -> frozenset[Role]:
        """The roles `principal` holds in this version."""
        held = {r for line in self.lines if principal in line.principals for r in line.roles}
        return frozenset(Role(r) for r in held if r in set(Role))

    def principals_of(self, signature: str) -> list[str]:
        """Principals whose key made `signature` (any role); [] when none."""
        done = _run(["-Y", "find-principals", "-s", str(_signature_file(signature)), "-f", str(self.path)])
        return done.stdout.decode().split() if done.returncode == 0 else []

    def verify(self, data: bytes, signature: str, role: Role, principal: str) -> Verified:
        """Check that `principal`'s key signed `data` in namespace `role`.

        Raises:
            SignatureError: naming the principal, the role and this version.
        """
        try:
            return _verify(self, Role(role), principal, signature.strip(), data)
        except SignatureError as exc:
            raise SignatureError(
                f"signature of {principal} as {role} does not verify against allowed signers "
                f"{self.sha256[:12]}… ({exc})"
            ) from None


def prefetch(jobs: Iterable[tuple[AllowedSigners, Role, str, str, bytes]]) -> None:
    """Check many (signers, role, principal, signature, data) at once, ssh-keygen running in parallel, to
    fill the cache that the line-by-line checks then hit (a cold `verify` of a long ledger is dominated by
    one ssh-keygen start per signature). Failures are left for those checks to report."""
    jobs = list(jobs)
    if len(jobs) < 8:
        return
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        list(pool.map(lambda job: _quietly(_verify, *job), jobs))


def _quietly(check, *args) -> None:
    with contextlib.suppress(SignatureError, subprocess.SubprocessError, OSError):
        check(*args)


@functools.lru_cache(maxsize=65536)
def _verify(signers: AllowedSigners, role: Role, principal: str, sig: str, data: bytes) -> Verified:
    if not principal or not re.fullmatch(r"[^\s,\"]+", principal):
        raise SignatureError(f"bad principal name {principal!r}")
    args = ["-Y", "verify", "-f", str(signers.path), "-I", principal, "-n", role]
    done = _run([*args, "-s", str(_signature_file(sig))], data)
    if done.returncode != 0:
        raise SignatureError(_why(done))
    match = _GOOD.search(done.stdout.decode(errors="replace"))
    return Verified(principal, role, match.group(2) if match else "")


def _parse(text: str) -> tuple[_Line, ...]:
    """The lines of an allowed-signers file; SignatureError naming a line that would weaken it."""
    lines, seen = [], {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            tokens = shlex.split(raw, comments=False, posix=True)
        except ValueError as exc:
            raise SignatureError(f"allowed signers line {number}: {exc}") from None
        if len(tokens) < 3 or _KEY_TYPES.match(tokens[1]):
            raise SignatureError(
                f'allowed signers line {number}: no namespaces="..." option, so the key would hold every '
                "role; list its roles"
            )
        match = re.search(r'namespaces="([^"]*)"', raw)
        roles = [r.strip() for r in match.group(1).split(",") if r.strip()] if match else []
        if not roles or "cert-authority" in tokens[1]:
            raise SignatureError(
                f'allowed signers line {number}: needs namespaces="..." and no cert-authority'
            )
        key = " ".join(tokens[2:4])
        if key in seen:
            raise SignatureError(
                f"allowed signers line {number}: the key of line {seen[key]} is listed again; "
                "one key per person"
            )
        seen[key] = number
        lines.append(_Line(tuple(tokens[0].split(",")), frozenset(roles), key))
    return tuple(lines)


class SignersStore:
    """Content-addressed versions of the allowed-signers file: `<root>/<sha256>`, written once.

    The ledger records, in every entry, which version it was verified against; a version is read back
    only if its bytes still hash to its name.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def put(self, text: str) -> AllowedSigners:
        """Keep `text` as a version (checked first: namespaces on every line, one key per person)."""
        from release.durable import write_once

        version = AllowedSigners(text)
        write_once(self.root / version.sha256, text.encode("utf-8"), label="signers-version")
        return version

    def get(self, sha256: str) -> AllowedSigners:
        """The version named `sha256`; SignatureError when it is missing or its bytes changed."""
        if not re.fullmatch(r"[0-9a-f]{64}", str(sha256)):
            raise SignatureError(f"bad allowed-signers hash {sha256!r}")
        return _read_version(self.root.resolve(), sha256)


@functools.lru_cache(maxsize=64)
def _read_version(root: Path, sha256: str) -> AllowedSigners:
    path = root / sha256
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SignatureError(f"allowed signers version {sha256[:12]}… is missing from {root}") from None
    version = AllowedSigners(text)
    if version.sha256 != sha256:
        raise SignatureError(f"allowed signers version {path} was edited (its bytes hash to another name)")
    return version
