"""`echojepa ledger ...`: check the release ledger that the retrain flow and release commands append to."""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.app import app

ledger_app = App(name="ledger", help="The hash-chained release ledger (release.ledger of params.yaml).")
app.command(ledger_app)


def release_ledger(params: Path):
    """The ledger named by the params file's release.ledger."""
    from config.params import load_params
    from release.ledger import Ledger

    return Ledger(load_params(params).release.ledger)


@ledger_app.command
def verify(*, ledger: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Check the ledger's hash chain (and signatures when ECHOJEPA_LEDGER_KEY is set); exit 1 naming the
    first bad line. Promotion heads stored in the BentoML model store catch a truncated tail.

    Parameters
    ----------
    ledger
        The ledger file (default: release.ledger of --params).
    params
        Parameter file (release.ledger, release.model_name: whose promotion heads must be in the chain).
    """
    from config.params import load_params
    from release.ledger import Ledger
    from release.package import expected_heads

    settings = load_params(params).release
    book = Ledger(ledger or settings.ledger)
    result = book.verify(expected_heads=expected_heads(settings.model_name))
    if not result.ok:
        raise ValueError(f"{book.path}: line {result.line}: {result.reason}")
    n = len(book.entries())
    print(
        f"{book.path}: ok ({n} entries, head {book.head()[:12]}…, production {book.production() or 'none'})"
    )
