"""The demo's two principals and the ledger they release into.

Two SSH keys are generated once into `.secrets/demo-keys/` (git-ignored, never committed): `demo-initiator`
(registers candidates: the key `echojepa retrain --key` signs with) and `demo-reviewer` (reviews, and is
also the release manager, so it can start the ledger with `echojepa ledger init`). Their allowed-signers
file lies beside them. Both keys sit in one folder of one OS account, so the demo shows the mechanism, not
custody: in real use each private key stays with its person (README "For reviewers").

A ledger written before signed ledgers existed (line 1 is not a signed `signers-changed`) cannot verify,
and the models of its BentoML store record heads no new ledger holds; the demo moves both aside, saying
so, rather than leave `make demo` unable to release in an older checkout.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from demo.shell import echojepa, env_with

KEYS = Path(".secrets/demo-keys")
INITIATOR, REVIEWER = "demo-initiator", "demo-reviewer"
ROLES = {INITIATOR: "echojepa-initiator", REVIEWER: "echojepa-review,echojepa-release-manager"}


@dataclass(frozen=True)
class DemoKeys:
    """Where the demo's private keys and their allowed-signers file are."""

    folder: Path

    @property
    def initiator(self) -> Path:
        return self.folder / INITIATOR

    @property
    def reviewer(self) -> Path:
        return self.folder / REVIEWER

    @property
    def allowed_signers(self) -> Path:
        return self.folder / "allowed_signers"


def demo_keys(folder: Path = KEYS) -> DemoKeys:
    """The demo's keys, generated (ed25519, no passphrase) when missing, and their allowed signers."""
    keys = DemoKeys(Path(folder))
    keys.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = []
    for name, roles in ROLES.items():
        key = keys.folder / name
        if not key.is_file():
            command = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)]
            subprocess.run(command, check=True, capture_output=True)
        public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
        lines.append(f'{name} namespaces="{roles}" {public}\n')
    keys.allowed_signers.write_text("".join(lines))
    return keys


def prepare_ledger(console, params_file: Path, settings, keys: DemoKeys) -> None:
    """A ledger the demo keys can release into: started by the reviewer (release manager) when empty.

    Raises:
        ValueError: a signed ledger that does not verify, or whose signers do not list the demo keys.
    """
    from release.ledger import open_ledger

    retire_unsigned(console, settings)
    ledger = open_ledger(settings)
    if not ledger.entries():
        console.print(
            f"[bold]release[/] two generated demo keys in {keys.folder}/: {INITIATOR} (registers) and "
            f"{REVIEWER} (reviews; release manager, starts the ledger)"
        )
        command = echojepa("ledger", "init", "--signers", str(keys.allowed_signers))
        done = subprocess.run(
            [*command, "--key", str(keys.reviewer), "--params", str(params_file)],
            env=env_with(), capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise ValueError(f"echojepa ledger init failed: {_last(done.stderr)}")
        console.print(f"  {_last(done.stdout)}")
        return
    result = ledger.verify()
    if not result.ok:
        raise ValueError(
            f"{ledger.path} does not verify ({result}); `echojepa ledger verify` / `ledger recover`"
        )


def retire_unsigned(console, settings) -> None:
    """Move a ledger written before signed ledgers (and the model store that pairs with it) aside: it can
    never verify, and `dvc repro`'s evaluate stage reads production through it."""
    from release.ledger import Ledger
    from release.model_store import use_project_model_store

    ledger = Ledger(settings.ledger)
    entries = ledger.entries() if ledger.path.is_file() else []
    if not entries or "sig" in entries[0]:
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in (ledger.path.parent, use_project_model_store()):
        if folder.exists():
            moved = folder.with_name(f"{folder.name}.unsigned-{stamp}")
            folder.rename(moved)
            console.print(
                f"[bold yellow]release[/] {folder} was written before signed ledgers (it cannot verify): "
                f"moved to {moved}"
            )


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
