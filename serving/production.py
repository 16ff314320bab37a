"""Which model is production, and whether its folder may be served: the release ledger decides, never a
BentoML label (see release.package), and `release.served.verify_model_dir` checks the folder.

Before a model is loaded the whole ledger is verified (chain, every signature against the allowed signers
in force, the release rules, the witnesses, the heads the model store recorded), the folder's tag must be
the one the ledger names as production, and the folder must hold exactly the files of its `packaged` line
with their sha256: the bytes served are the bytes that were reviewed. A refusal is a `ModelUnavailable`
(503) whose message is the verifier's one line; the runtime keeps serving the model it verified before.
"""

from __future__ import annotations

from pathlib import Path

from serving.config import ServingSettings
from serving.errors import NO_MODEL, ModelUnavailable


def production_tag(settings: ServingSettings) -> str | None:
    """The BentoML tag the ledger names as production now (None: nothing released yet), read without
    verifying: it only tells the runtime whether to try a load, which verifies everything."""
    from release.ledger import open_ledger

    entry = open_ledger(settings.release).production_entry()
    return None if entry is None else str(entry.get("bento_tag"))


def resolve_production(settings: ServingSettings) -> tuple[Path, str, str]:
    """The verified production model: its directory in the BentoML store, its model version and its tag.

    Raises:
        ModelUnavailable: nothing released, a ledger that does not verify, a missing model, or a model
            folder whose files differ from the release (the reason names the line or the file).
    """
    from release.ledger import open_ledger
    from release.package import PackageError, production_model
    from release.served import ModelVerificationError, verify_model_dir

    ledger = open_ledger(settings.release)
    if ledger.production_entry() is None:
        raise ModelUnavailable(NO_MODEL)
    try:
        model = production_model(ledger)
        if model is None:  # the production line went away between the two reads
            raise ModelUnavailable(NO_MODEL)
        verified = verify_model_dir(Path(model.path), ledger, tag=str(model.tag))
    except (PackageError, ModelVerificationError) as exc:
        raise ModelUnavailable(
            f"production model refused: {exc}; run `echojepa ledger verify`, package it again or roll back"
        ) from None
    return Path(model.path), verified.model_version, verified.tag
