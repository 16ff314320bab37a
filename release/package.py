"""Packaging an approved candidate into the BentoML model store, production, rollback and S3 export.

Order of `package_candidate` (one exclusive ledger lock around steps 2-5, so the head cannot move):
1. the ledger must verify and the candidate must be approved, not yet packaged (DecisionError otherwise);
   its frozen files (`registry/candidates/<id>/`) must match the registered manifest exactly
   (PackageError naming the first file that is missing, extra or different) and pass the caller's load
   smoke test (the retrain flow's: the service loads them and runs a batch);
2. `packaged` (bento tag + the manifest) and `promoted` are staged: signed, replayed, their hashes fixed;
3. write point `model-store`: the model is created from the frozen files (re-hashed inside the store
   before it is saved), `metadata.ledger_head` = the hash of the staged `promoted` line and
   `metadata.ledger_lines` = the two staged lines, so a kill before step 4 leaves a model whose lines
   `release.recover` can append (they are complete and signed) instead of a model nobody can explain;
4. write point `ledger`: the two lines, one write + fsync;
5. write point `witness`: their heads.
If step 3 fails nothing is written; if step 4 fails the new model is deleted again.

"Production" is whatever the verified ledger says, never a BentoML label: labels are set once, at
creation. Library code: no prefect; bentoml and boto3 are imported lazily.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release.decision_docs import DecisionError, check_document
from release.decisions import approved_candidate, verified
from release.durable import write_point
from release.duties import check_decision
from release.events import Action, Event
from release.ledger import Ledger, LedgerError
from release.manifest import ManifestError, check_tree
from release.model_store import use_project_model_store
from release.signing import Signer

use_project_model_store()  # before any function here imports bentoml (a Prefect worker has no CLI to set it)

STAGE_LABEL = "production-candidate"
_RESERVED_METADATA = (
    "data_version",
    "git_commit",
    "ledger_head",
    "ledger_lines",
    "candidate_id",
    "model_version",
    "weights_sha256",
)


class PackageError(ValueError):
    """Packaging, store lookup or export failed (one line)."""


def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Nested metrics -> `{"a.b.c": number}`: finite ints/floats only (bools, strings, lists, NaN dropped)."""
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_metrics(value, prefix=f"{name}."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) or hasattr(value, "item"):
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                out[name] = number
    return out


def package_candidate(
    ledger: Ledger,
    candidate_id: str,
    *,
    signer: Signer,
    model_name: str = "echojepa",
    check: Callable[[Path], object] | None = None,
) -> str:
    """Package an approved candidate's frozen files as `<model_name>:<version>` and promote it; the tag.

    `check` (the retrain flow passes serving.smoke's load smoke test) runs on the frozen files before
    anything is written: a model the service could not load is refused with PackageError, the ledger and
    the store untouched, the candidate still approved and production unchanged."""
    import bentoml
    from bentoml._internal.tag import Tag

    summary = approved_candidate(verified(ledger), candidate_id)  # fast refusal before any copying
    frozen = ledger.candidates_dir / candidate_id
    try:
        check_tree(frozen, summary.manifest, f"the frozen files of {candidate_id}")
    except ManifestError as exc:
        raise PackageError(f"refusing to package: {exc}") from None
    if check is not None:
        try:
            check(frozen)
        except Exception as exc:
            raise PackageError(f"refusing to package {candidate_id}: {exc}") from None
    try:
        evaluation = json.loads((frozen / "evaluation.json").read_text(encoding="utf-8"))
    except ValueError:
        raise PackageError(f"the frozen evaluation.json of {candidate_id} is not JSON") from None
    tag = str(Tag(model_name).make_new_version())
    created, promoted = False, {}
    try:
        with ledger.transaction(signer) as tx:
            summary = approved_candidate(tx.replay, candidate_id)  # again, under the lock
            previous = tx.replay.production or {}
            common = {"candidate_id": candidate_id, "model_version": summary.model_version, "bento_tag": tag}
            tx.stage(Event.PACKAGED, **common, files=summary.manifest)
            promoted = tx.stage(
                Event.PROMOTED,
                **common,
                reviewer=summary.reviewer,
                previous_model_version=previous.get("model_version"),
                previous_bento_tag=previous.get("bento_tag"),
            )
            metadata: dict[str, Any] = {
                k: v
                for k, v in flat_metrics(evaluation.get("metrics", {})).items()
                if k not in _RESERVED_METADATA
            }
            metadata.update(
                data_version=str(summary.data_version),
                git_commit=str(summary.git_commit),
                ledger_head=promoted["hash"],
                ledger_lines=tx.lines(),
                candidate_id=candidate_id,
                model_version=summary.model_version,
                weights_sha256=str(summary.weights_sha256),
            )
            labels = {"candidate": candidate_id, "stage": STAGE_LABEL}
            with (
                write_point("model-store"),
                bentoml.models.create(tag, labels=labels, metadata=metadata) as model,
            ):
                for name in summary.manifest:
                    Path(model.path, name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(frozen / name, Path(model.path, name))
                check_tree(Path(model.path), summary.manifest, f"the store copy of {candidate_id}")
            created = True
    except Exception:
        if created and promoted.get("hash") not in {e.get("hash") for e in ledger.entries()}:
            with contextlib.suppress(Exception):  # the ledger write failed after the model was saved
                bentoml.models.delete(tag)
        raise
    return tag


def _get_model(tag: str):
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.get(tag)
    except NotFound:
        raise PackageError(f"model {tag} is not in the BentoML store") from None


def production_model(ledger: Ledger):
    """The BentoML model that the verified ledger names as production now, or None when nothing was
    promoted. PackageError when the ledger does not verify or names a model the store no longer has."""
    try:
        entry = ledger.verified_replay().production
    except LedgerError as exc:
        raise PackageError(str(exc)) from None
    return None if entry is None else _get_model(str(entry["bento_tag"]))


def rollback(ledger: Ledger, decision: str, *, signer: Signer) -> str:
    """Apply a reviewer's signed rollback decision: the previous production version is current again (a
    `rollback` line, written by `signer`, who must be another person than the reviewer). Returns its
    model version.

    "Previous" follows the promotion stack: after promotions v1, v2, v3 a rollback returns to v2, a second
    rollback to v1, and a third is refused because nothing came before v1.
    """
    with ledger.transaction(signer) as tx:
        document = check_document(decision, tx.replay.pinned)
        if document.action != Action.ROLLBACK:
            raise DecisionError(f"a {document.action} decision cannot roll back production")
        check_decision(tx.replay, document)  # bound to this production state, with a reason
        current, target = tx.replay.production, tx.replay.stack[-2]
        _get_model(str(target["bento_tag"]))
        tx.stage(
            Event.ROLLBACK,
            candidate_id=target["candidate_id"],
            model_version=target["model_version"],
            bento_tag=target["bento_tag"],
            from_candidate_id=current.get("candidate_id"),
            from_model_version=current.get("model_version"),
            from_bento_tag=current.get("bento_tag"),
            reviewer=document.reviewer.principal,
            reason=document.reason,
            comment=document.comment,
            decision=document.text,
        )
    return str(target["model_version"])


def stored_models(model_name: str = "echojepa") -> list:
    """Every model named `model_name` in the store ([] when none)."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return list(bentoml.models.list(model_name))
    except NotFound:
        return []


def store_heads(model_name: str = "echojepa") -> dict[str, str]:
    """{ledger_head: tag} of every stored model named `model_name` (the ledger head at each promotion)."""
    return {
        str(m.info.metadata["ledger_head"]): str(m.tag)
        for m in stored_models(model_name)
        if m.info.metadata.get("ledger_head")
    }


def expected_heads(model_name: str = "echojepa") -> list[str]:
    """The promotion heads of the model store, sorted."""
    return sorted(store_heads(model_name))


def export_model(tag: str, s3_url: str, endpoint_url: str | None = None) -> str:
    """Export `tag` (bentoml.models.export_model) and upload it to `s3_url` (`s3://bucket/key` or
    `s3://bucket/prefix/`, where `<name>-<version>.bentomodel` is appended). Credentials and region come
    from the environment (AWS_*); `endpoint_url` (or AWS_ENDPOINT_URL) for S3-compatible stores."""
    import bentoml

    if not s3_url.startswith("s3://"):
        raise PackageError(f"export target must be an s3:// URL, got {s3_url!r}")
    bucket, _, key = s3_url[len("s3://") :].partition("/")
    if not bucket:
        raise PackageError(f"no bucket in {s3_url!r}")
    model = _get_model(tag)
    filename = f"{model.tag.name}-{model.tag.version}.bentomodel"
    if not key or key.endswith("/"):
        key = f"{key}{filename}"
    with tempfile.TemporaryDirectory(prefix="echojepa-export-") as tmp:
        local = Path(tmp) / filename
        try:
            path = bentoml.models.export_model(str(model.tag), str(local))
        except Exception as exc:
            raise PackageError(f"export of {tag} failed: {exc}".splitlines()[0]) from None
        try:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url) if endpoint_url else boto3.client("s3")
            client.upload_file(str(path), bucket, key)
        except Exception as exc:
            message = f"upload of {tag} to s3://{bucket}/{key} failed: {exc.__class__.__name__}: {exc}"
            raise PackageError(message.splitlines()[0]) from None
    return f"s3://{bucket}/{key}"
