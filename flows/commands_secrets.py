"""`echojepa secrets init`: the de-identification salt that ingest, serving and everything that keys on a
study share (ingest.salt_file of params.yaml). Made once per deployment and copied to every replica as a
secret; serving refuses to start without it when it retains clips or pushes to Feast, and never mints one."""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.app import app

secrets_app = App(name="secrets", help="Deployment secrets (the de-identification salt).")
app.command(secrets_app)


@secrets_app.command
def init(*, params: Path = PARAMS_FILE) -> None:
    """Create ingest.salt_file (32 random bytes as hex, mode 0600, its folder git-ignored) unless it exists.
    An existing salt is kept, never replaced: pseudonyms made with it would no longer join. A salt shorter
    than 32 bytes is refused (exit 1) so it is replaced on purpose, not silently.

    Parameters
    ----------
    params
        Parameter file (ingest.salt_file).
    """
    from config.params import load_params
    from ingest.deid import check_salt, create_salt

    path = Path(load_params(params).ingest.salt_file)
    created = create_salt(path)
    check_salt(path.read_text(), str(path))
    print(f"{path}: {'created (mode 0600)' if created else 'exists; kept'}")
