"""`echojepa ledger ...`: start, check and repair the signed release ledger that the retrain flow and the
release commands append to (release.ledger of params.yaml, with its witnesses)."""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.app import app

ledger_app = App(name="ledger", help="The signed, witnessed release ledger (release.ledger of params.yaml).")
app.command(ledger_app)


def release_settings(params: Path):
    """params.yaml's release section."""
    from config.params import load_params

    return load_params(params).release


def release_ledger(params: Path):
    """The ledger named by the params file's release.ledger, with its witnesses and model-store heads."""
    from release.ledger import open_ledger

    return open_ledger(release_settings(params))


def signers_text(path: Path) -> str:
    """An allowed-signers file's text; ValueError (one line) when there is none."""
    if not Path(path).is_file():
        raise ValueError(f'{path}: no allowed-signers file (one line per key: NAME namespaces="ROLES" KEY)')
    return Path(path).read_text(encoding="utf-8")


@ledger_app.command
def verify(*, ledger: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Check the whole ledger: hash chain, every signature and role against the allowed signers in force,
    the release rules, every witness and the heads the model store recorded; exit 1 naming the first bad
    line.

    Parameters
    ----------
    ledger
        The ledger file (default: release.ledger of --params).
    params
        Parameter file (release.ledger, release.witness_dir / witness_s3_url, release.model_name).
    """
    from release.ledger import open_ledger

    settings = release_settings(params)
    if ledger is not None:
        settings = settings.model_copy(update={"ledger": ledger})
    book = open_ledger(settings)
    result = book.verify()
    if not result.ok:
        raise ValueError(f"{book.path}: line {result.line}: {result.reason}")
    n = len(book.entries())
    print(
        f"{book.path}: ok ({n} entries, head {book.head()[:12]}…, production {book.production() or 'none'})"
    )
    for note in result.notes:
        print(f"  note: {note}")


@ledger_app.command
def init(*, signers: Path | None = None, key: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Start a new ledger: line 1 adopts the allowed-signers file, signed by a release manager it lists.

    Parameters
    ----------
    signers
        The allowed-signers file (default: release.allowed_signers).
    key
        Your key (a release manager in that file); default release.signing_key.
    params
        Parameter file (release.ledger, release.allowed_signers).
    """
    from flows.identity import signer_for
    from release.decisions import start_ledger

    settings = release_settings(params)
    text = signers_text(signers or settings.allowed_signers)
    entry = start_ledger(release_ledger(params), signer_for(settings, key), text)
    print(f"{settings.ledger}: started by {entry['signer']}, allowed signers {entry['new_signers'][:12]}…")


@ledger_app.command
def recover(*, key: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Repair what a crash left (a torn last line, a model saved without its ledger lines, heads a witness
    has not seen, orphaned candidate files) and record it in a signed `recovered` line; never drops a
    complete signed line. Damage a crash cannot cause is refused: restore from a backup.

    Parameters
    ----------
    key
        Your key (an initiator or a release manager); default release.signing_key.
    params
        Parameter file (release.ledger, its witnesses, release.model_name).
    """
    from flows.identity import signer_for
    from release.recover import recover as recover_ledger

    settings = release_settings(params)
    done = recover_ledger(release_ledger(params), signer_for(settings, key), model_name=settings.model_name)
    if not done.actions:
        print(f"{settings.ledger}: nothing to recover")
        return
    for action in done.actions:
        print(f"  {action}")
    print(f"{settings.ledger}: recovered, recorded in line {done.entry['seq']} by {done.entry['signer']}")
