"""Fixtures for release tests: real SSH keys (made once per session with ssh-keygen), an allowed-signers
file with every role, a fresh ledger started by the release manager, and an isolated BentoML store."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

# principal -> roles (the namespaces of its allowed-signers line); mallory has a key but no line
ROLES = {
    "alice": "echojepa-initiator,echojepa-review",
    "bob": "echojepa-initiator,echojepa-review",
    "carol": "echojepa-review",
    "dana": "echojepa-release-manager",
    "scheduler": "echojepa-initiator",
}


@dataclass(frozen=True)
class Keys:
    """Private key files by principal, and the allowed-signers text that lists them."""

    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name

    def public(self, name: str) -> str:
        return " ".join((self.folder / f"{name}.pub").read_text().split()[:2])

    def line(self, name: str, roles: str | None = None) -> str:
        return f'{name} namespaces="{roles or ROLES[name]}" {self.public(name)}\n'

    def signers(self, extra: str = "") -> str:
        return "".join(self.line(name) for name in ROLES) + extra

    def signer(self, name: str):
        from release.signing import Signer

        return Signer(self.path(name))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    if shutil.which("ssh-keygen") is None:  # CI on a bare image: the test installs what it needs
        subprocess.run(["apt-get", "install", "-y", "openssh-client"], check=True, capture_output=True)
    folder = tmp_path_factory.mktemp("keys")
    for name in [*ROLES, "mallory"]:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)], check=True
        )
    return Keys(folder)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "registry" / "ledger.jsonl"


@pytest.fixture
def witness_dir(tmp_path: Path) -> Path:
    return tmp_path / "witness"


@pytest.fixture
def ledger(ledger_path: Path, witness_dir: Path, keys: Keys):
    """A ledger with a file witness, started by the release manager dana with every role of ROLES."""
    from release.decisions import start_ledger
    from release.ledger import Ledger
    from release.witness import FileWitness

    book = Ledger(ledger_path, witnesses=[FileWitness(witness_dir)])
    start_ledger(book, keys.signer("dana"), keys.signers())
    return book


@pytest.fixture
def bento_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """BENTOML_HOME=<tmp> for this test; BentoML caches its store as a singleton, so patch that too."""
    home = tmp_path / "bentoml"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    with (
        BentoMLContainer.bentoml_home.patch(str(home)),
        BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))),
    ):
        yield home
