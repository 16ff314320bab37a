"""Which model is production: the release ledger decides, never a BentoML label (see release.package).

The ledger is verified (hash chain, signatures when ECHOJEPA_LEDGER_KEY is set, and the promotion heads
stored in the model store) before its production entry is trusted, and the model's files must still have
the sha256 that its `packaged` entry recorded: the weights served are the weights that were reviewed.
"""

from __future__ import annotations

from pathlib import Path

from serving.config import ServingSettings
from serving.errors import NO_MODEL, ModelUnavailable


def production_tag(settings: ServingSettings) -> str | None:
    """The BentoML tag the ledger names as production now (None: nothing released yet)."""
    from release.ledger import Ledger

    entry = Ledger(settings.ledger).production_entry()
    return None if entry is None else str(entry.get("bento_tag"))


def resolve_production(settings: ServingSettings) -> tuple[Path, str]:
    """The production model's directory in the BentoML store and its model version.

    Raises:
        ModelUnavailable: nothing released, a ledger that does not verify, or a missing model.
    """
    from release.ledger import Ledger
    from release.package import PackageError, expected_heads, production_model

    ledger = Ledger(settings.ledger)
    if ledger.production_entry() is None:
        raise ModelUnavailable(NO_MODEL)
    result = ledger.verify(expected_heads=expected_heads(settings.model_name))
    if not result.ok:
        raise ModelUnavailable(
            f"the release ledger {settings.ledger} does not verify ({result}); "
            "run `echojepa ledger verify` and repair it before serving"
        )
    try:
        model = production_model(ledger)
    except PackageError as exc:
        raise ModelUnavailable(f"{exc}; package the production model again or roll back") from None
    _check_files(ledger, str(model.tag), Path(model.path))
    metadata = model.info.metadata
    return Path(model.path), str(metadata.get("model_version") or model.tag)


def _check_files(ledger, tag: str, model_dir: Path) -> None:
    """Every file the `packaged` entry of `tag` lists must exist with its recorded sha256."""
    from release.ledger import sha256_file

    entries = [e for e in ledger.entries() if e.get("event") == "packaged" and e.get("bento_tag") == tag]
    if not entries:
        raise ModelUnavailable(f"the ledger has no `packaged` entry for {tag}; package it again or roll back")
    changed = [
        name
        for name, digest in sorted((entries[-1].get("files") or {}).items())
        if not (model_dir / name).is_file() or sha256_file(model_dir / name) != digest
    ]
    if changed:
        raise ModelUnavailable(
            f"the files of {tag} differ from the released ones ({', '.join(changed)}); "
            "package the model again or roll back"
        )
