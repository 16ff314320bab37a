"""Whose key a command or a flow run signs with.

The principal is never chosen here: a key is, and the allowed signers say whose it is (`release.signing`).
Where the key comes from, in order:

1. `--key PATH` of the command a person types (`echojepa release sign --key ~/.ssh/id_ed25519`,
   `echojepa retrain --key ...`); for `retrain` it reaches the in-process flow run through
   `use_key`, never through a flow parameter, so a run created from the Prefect UI or the API cannot
   pick a key file lying on the worker;
2. `release.signing_key` of params.yaml: this machine's key. On the host that serves the deployments
   (`echojepa orchestrator up`) that is the `scheduler` service key, which holds no reviewer role: cron
   and drift-event runs (and runs started from the UI) are registered by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from release.config import ReleaseConfig
    from release.signing import Signer

_process_key: Path | None = None  # set by `echojepa retrain --key` for the flow run it starts in-process


def use_key(key: Path | None) -> None:
    """The key the flow runs of this process sign with (None: release.signing_key)."""
    global _process_key
    _process_key = None if key is None else Path(key).expanduser()


def signer_for(settings: ReleaseConfig, key: Path | None = None) -> Signer:
    """The signer of `key`, else of this process's `use_key`, else of release.signing_key.

    Raises:
        ValueError: no key is configured, or the file does not exist (one line).
    """
    from release.signing import Signer

    chosen = key or _process_key or settings.signing_key
    if chosen is None:
        raise ValueError(
            "no signing key: pass --key PATH (your SSH private key, or its .pub with the key in ssh-agent) "
            "or set release.signing_key in params.yaml; see README 'For reviewers'"
        )
    return Signer(chosen)
