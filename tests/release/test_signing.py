"""SSH signatures with real ssh-keygen: the principal and role come from the verified signature; a wrong
namespace, a wrong principal, edited data, an unlisted key, a weakening signers file are refused."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from release.events import Role
from release.signing import AllowedSigners, SignatureError, Signer, SignersStore


def test_sign_and_verify_names_principal_role_and_key(keys) -> None:
    signers = AllowedSigners(keys.signers())
    sig = keys.signer("alice").sign(b"line", Role.INITIATOR)
    assert "\n" not in sig and sig.startswith("U1NIU0lH")  # one base64 line ("SSHSIG")
    verified = signers.verify(b"line", sig, Role.INITIATOR, "alice")
    assert (verified.principal, verified.role) == ("alice", Role.INITIATOR)
    assert verified.fingerprint.startswith("SHA256:")
    bob = signers.verify(b"x", keys.signer("bob").sign(b"x", Role.REVIEWER), Role.REVIEWER, "bob")
    assert bob.fingerprint != verified.fingerprint
    assert signers.principals_of(sig) == ["alice"]


@pytest.mark.parametrize(
    ("signer", "role", "claimed", "data", "why"),
    [
        ("alice", Role.INITIATOR, "alice", b"edited", "incorrect signature"),  # the data changed
        ("alice", Role.INITIATOR, "bob", b"line", "does not verify"),  # claims another principal
        ("scheduler", Role.REVIEWER, "scheduler", b"line", "does not verify"),  # a role it lacks
        ("mallory", Role.INITIATOR, "mallory", b"line", "does not verify"),  # not listed at all
    ],
)
def test_refused_signatures(keys, signer: str, role: Role, claimed: str, data: bytes, why: str) -> None:
    signers = AllowedSigners(keys.signers())
    sig = keys.signer(signer).sign(b"line", role)
    with pytest.raises(SignatureError, match=why):
        signers.verify(data, sig, role, claimed)


def test_a_signature_cannot_be_replayed_in_another_role(keys) -> None:
    """alice holds both roles, yet her initiator signature never counts as a review."""
    signers = AllowedSigners(keys.signers())
    sig = keys.signer("alice").sign(b"line", Role.INITIATOR)
    with pytest.raises(SignatureError, match="namespace"):
        signers.verify(b"line", sig, Role.REVIEWER, "alice")


def test_identify_proves_who_holds_the_key(keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "bob")  # the OS user's name plays no part
    monkeypatch.setenv("USER", "bob")
    signers = AllowedSigners(keys.signers())
    assert keys.signer("alice").identify(signers, Role.INITIATOR).principal == "alice"
    with pytest.raises(SignatureError, match="may not sign as echojepa-review"):
        keys.signer("scheduler").identify(signers, Role.REVIEWER)
    with pytest.raises(SignatureError, match="may not sign"):
        keys.signer("mallory").identify(signers, Role.INITIATOR)
    with pytest.raises(SignatureError, match="not found"):
        Signer(keys.folder / "nobody")


def test_agent_held_key(keys, tmp_path: Path) -> None:
    """A `.pub` path signs with the private half held by ssh-agent (the key file itself is not read)."""
    socket = tmp_path / "agent.sock"
    agent = subprocess.run(["ssh-agent", "-a", str(socket), "-s"], capture_output=True, text=True, check=True)
    pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket)}
        subprocess.run(["ssh-add", "-q", str(keys.path("carol"))], env=env, check=True, capture_output=True)
        public = tmp_path / "carol.pub"  # alone in its folder: ssh-keygen must use the agent
        public.write_text((keys.folder / "carol.pub").read_text())
        os.environ["SSH_AUTH_SOCK"] = str(socket)
        sig = Signer(public).sign(b"decision", Role.REVIEWER)
        assert (
            AllowedSigners(keys.signers()).verify(b"decision", sig, Role.REVIEWER, "carol").principal
            == "carol"
        )
    finally:
        os.environ.pop("SSH_AUTH_SOCK", None)
        os.kill(pid, signal.SIGTERM)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{key}\n", "no namespaces"),  # would hold every role
        ('eve cert-authority,namespaces="echojepa-review" {key}\n', "cert-authority"),
        ('eve namespaces="echojepa-review" {key}\n', "listed again"),  # alice's key under a second name
    ],
)
def test_signers_files_that_weaken_the_roles_are_refused(keys, line: str, why: str) -> None:
    extra = line.format(key=keys.public("alice"))
    extra = f"eve {extra}" if extra.startswith("ssh-") else extra
    with pytest.raises(SignatureError, match=why):
        AllowedSigners(keys.signers(extra))


def test_signers_store_is_content_addressed(keys, tmp_path: Path) -> None:
    store = SignersStore(tmp_path / "signers")
    version = store.put(keys.signers())
    assert (tmp_path / "signers" / version.sha256).read_text() == keys.signers()
    assert store.get(version.sha256) == version and version.roles_of("alice") == {
        Role.INITIATOR,
        Role.REVIEWER,
    }
    assert store.put(keys.signers()).sha256 == version.sha256  # written once
    with pytest.raises(SignatureError, match="missing"):
        store.get("f" * 64)
    other = SignersStore(tmp_path / "other")
    edited = other.put(keys.signers())
    path = tmp_path / "other" / edited.sha256
    path.chmod(0o644)
    path.write_text(keys.signers(keys.line("mallory", "echojepa-review")))
    with pytest.raises(SignatureError, match="edited"):
        _fresh_get(path.parent, edited.sha256)


def _fresh_get(root: Path, sha: str):
    """Read a version bypassing the per-process cache (a new process would)."""
    from release.signing import _read_version

    _read_version.cache_clear()
    return SignersStore(root).get(sha)
