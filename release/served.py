"""What the service checks before it serves a model folder: the reviewed bytes are the served bytes.

`verify_model_dir` is the one call serving makes at load (and on a reload after a rollback). It trusts
nothing in the folder itself: the ledger must verify (chain, every signature against the signers in
force, the release rules, the witnesses, the model store's heads), the folder's tag must be the one the
ledger names (production, by default), that tag's `packaged` line must list exactly the registered
manifest (the rules check it), and the folder must hold exactly those files with those sha256 — an edited,
added or removed file is named. A refusal is a `ModelVerificationError` with one line: the service
answers 503 with it and keeps serving the model it verified before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from release.ledger import Ledger, LedgerError
from release.manifest import ManifestError, check_tree


class ModelVerificationError(ValueError):
    """The model folder or the ledger behind it does not verify (one line, fit for a 503 body)."""


@dataclass(frozen=True)
class VerifiedModel:
    """A model folder that matched its release: which candidate, who registered and who approved it."""

    tag: str
    candidate_id: str
    model_version: str
    registrant: str
    reviewer: str
    manifest: dict[str, str]


def verify_model_dir(
    model_dir: Path | str, ledger: Ledger, *, tag: str | None = None, production_only: bool = True
) -> VerifiedModel:
    """Check `model_dir` (a BentoML model folder) against the verified ledger.

    Args:
        tag: the folder's model tag; default: the tag the ledger names as production.
        production_only: refuse a tag that is not production now.

    Raises:
        ModelVerificationError: naming the ledger line or the file that does not verify.
    """
    try:
        replay = ledger.verified_replay()
    except LedgerError as exc:
        raise ModelVerificationError(str(exc)) from None
    production = replay.production
    if production is None:
        raise ModelVerificationError("the ledger names no production model")
    tag = tag or str(production["bento_tag"])
    if production_only and tag != production["bento_tag"]:
        raise ModelVerificationError(
            f"model {tag} is not production (the ledger names {production['bento_tag']})"
        )
    record = next((r for r in replay.candidates.values() if (r.packaged or {}).get("bento_tag") == tag), None)
    if record is None:
        raise ModelVerificationError(f"the ledger has no `packaged` line for {tag}")
    try:
        check_tree(Path(model_dir), record.packaged["files"], f"model {tag}")
    except ManifestError as exc:
        raise ModelVerificationError(f"{exc}; refusing to serve it") from None
    return VerifiedModel(
        tag=tag,
        candidate_id=str(record.registration["candidate_id"]),
        model_version=str(record.registration.get("model_version")),
        registrant=record.registrant.principal if record.registrant else "",
        reviewer=str((record.decision or {}).get("reviewer") or ""),
        manifest=dict(record.packaged["files"]),
    )
