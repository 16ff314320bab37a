"""Packaging an approved candidate into the BentoML model store, production, rollback and S3 export.

Order of `package_candidate` (one exclusive ledger lock around steps 3-6, so the head cannot move):
1. the candidate must be `approved` (DecisionError otherwise: gates failed, pending, rejected, expired,
   already packaged);
2. the run's files are staged in a temp dir: encoder.pt (required; its sha256 must equal the candidate's
   `weights_sha256`), target_encoder.pt, config.yaml, probes/<task>/seed-<n>.pt (the served ensembles),
   evaluation.json (copied from run_dir, else written from `evaluation`) and reference.parquet (the
   monitoring reference the evaluation wrote);
3. the ledger must verify, including every `ledger_head` already stored in the model store (no truncation);
4. `packaged` (bento tag + sha256 of every file) and `promoted` are *staged*: their hashes are now fixed;
5. the model is created in the store with `metadata.ledger_head` = the hash of the staged `promoted` line
   (= the ledger head right after promotion), labels `{candidate, stage: production-candidate}`;
6. the two lines are written (one write + fsync). If step 5 fails nothing is written; if step 6 fails the
   new model is deleted again. So every `ledger_head` in the store is the hash of a `promoted` line.

"Production" is whatever the ledger says (`Ledger.production_entry()`), never a BentoML label: labels are
set once, at creation. Library code: no prefect; bentoml/pandas/boto3 are imported lazily.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.decisions import DecisionError, approved_entry
from release.ledger import Ledger, canonical_json, sha256_file
from release.model_store import use_project_model_store

if TYPE_CHECKING:
    import pandas as pd

use_project_model_store()  # before any function here imports bentoml (a Prefect worker has no CLI to set it)

MODEL_FILES = ("encoder.pt", "target_encoder.pt", "config.yaml", "evaluation.json")
REFERENCE_FILE = "reference.parquet"
STAGE_LABEL = "production-candidate"
_RESERVED_METADATA = (
    "data_version",
    "git_commit",
    "ledger_head",
    "candidate_id",
    "model_version",
    "weights_sha256",
    "evaluation_sha256",
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


def _stage_files(run_dir: Path, evaluation: dict, reference: pd.DataFrame, dest: Path) -> dict[str, str]:
    """Copy the run's files and write evaluation.json / reference.parquet into `dest`; {relative path:
    sha256}."""
    run_dir = Path(run_dir)
    if not (run_dir / "encoder.pt").is_file():
        raise PackageError(f"{run_dir / 'encoder.pt'} not found; nothing to package")
    for name in MODEL_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, dest / name)
    if not (dest / "evaluation.json").exists():
        (dest / "evaluation.json").write_text(canonical_json(evaluation) + "\n", encoding="utf-8")
    # every served probe: probes/<task>/seed-<n>.pt (the training frame beside them stays behind)
    for probe in sorted((run_dir / "probes").glob("*/seed-*.pt")) if (run_dir / "probes").is_dir() else []:
        target = dest / probe.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(probe, target)
    try:
        reference.to_parquet(dest / REFERENCE_FILE, index=False)
    except Exception as exc:
        raise PackageError(f"cannot write {REFERENCE_FILE}: {exc}".splitlines()[0]) from None
    return {str(p.relative_to(dest)): sha256_file(p) for p in sorted(dest.rglob("*")) if p.is_file()}


def _refuse_unless_verified(ledger: Ledger, heads: list[str]) -> None:
    result = ledger.verify(expected_heads=heads)
    if not result.ok:
        raise DecisionError(f"ledger does not verify ({result}); run `echojepa ledger verify`")


def package_candidate(
    ledger: Ledger,
    candidate_id: str,
    *,
    run_dir: Path,
    evaluation: dict,
    reference: pd.DataFrame,
    model_name: str = "echojepa",
) -> str:
    """Package an approved candidate as `<model_name>:<version>` and promote it to production; returns the
    tag."""
    import bentoml
    from bentoml._internal.tag import Tag

    summary = approved_entry(ledger, candidate_id)  # fast refusal before any copying
    heads = expected_heads(model_name)
    tag = str(Tag(model_name).make_new_version())
    created = False
    with tempfile.TemporaryDirectory(prefix="echojepa-package-") as tmp:
        staging = Path(tmp)
        files = _stage_files(Path(run_dir), evaluation, reference, staging)
        expected = summary.get("weights_sha256")
        if expected and files["encoder.pt"] != expected:
            raise DecisionError(
                f"encoder.pt sha256 {files['encoder.pt'][:12]}… differs from the approved candidate's "
                f"weights_sha256 {str(expected)[:12]}…; refusing to package other weights than those reviewed"
            )
        try:
            with ledger.transaction() as tx:
                _refuse_unless_verified(ledger, heads)
                summary = approved_entry(ledger, candidate_id)  # again, under the lock
                previous = ledger.production_entry()
                tx.stage(
                    "packaged",
                    candidate_id=candidate_id,
                    model_version=summary["model_version"],
                    bento_tag=tag,
                    files=files,
                    reference_rows=len(reference),
                )
                promoted = tx.stage(
                    "promoted",
                    candidate_id=candidate_id,
                    model_version=summary["model_version"],
                    bento_tag=tag,
                    reviewer=(summary.get("decision") or {}).get("reviewer"),
                    previous_model_version=None if previous is None else previous.get("model_version"),
                    previous_bento_tag=None if previous is None else previous.get("bento_tag"),
                )
                metadata: dict[str, Any] = {
                    k: v
                    for k, v in flat_metrics(evaluation.get("metrics", {})).items()
                    if k not in _RESERVED_METADATA
                }
                metadata.update(
                    data_version=str(summary.get("data_version")),
                    git_commit=str(summary.get("git_commit")),
                    ledger_head=promoted["hash"],
                    candidate_id=candidate_id,
                    model_version=str(summary["model_version"]),
                    weights_sha256=str(summary.get("weights_sha256")),
                    evaluation_sha256=str(summary.get("evaluation_sha256")),
                )
                labels = {"candidate": candidate_id, "stage": STAGE_LABEL}
                with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
                    shutil.copytree(staging, model.path, dirs_exist_ok=True)
                created = True
        except Exception:
            if created:  # the ledger write failed after the model was saved: remove the orphan
                with contextlib.suppress(Exception):  # best effort; the original error matters
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
    """The BentoML model that the ledger names as production now, or None when nothing was promoted.
    PackageError when the ledger names a model that the store no longer has."""
    entry = ledger.production_entry()
    if entry is None:
        return None
    return _get_model(str(entry["bento_tag"]))


def rollback(ledger: Ledger, *, reviewer: str, reason: str) -> str:
    """Make the previous production version current again (appends `rollback`); returns its model version.

    "Previous" follows the promotion stack: after promotions v1, v2, v3 a rollback returns to v2, a second
    rollback to v1, and a third is refused (DecisionError) because nothing came before v1.
    """
    if not (reviewer or "").strip():
        raise DecisionError("reviewer name is empty")
    if not (reason or "").strip():
        raise DecisionError("a rollback needs a reason")
    with ledger.transaction() as tx:
        current = ledger.production_entry()
        target = ledger.previous_production()
        if current is None or target is None:
            raise DecisionError("no previous production version to roll back to")
        tag = str(target["bento_tag"])
        _get_model(tag)
        _refuse_unless_verified(ledger, expected_heads(tag.split(":", 1)[0]))
        tx.stage(
            "rollback",
            candidate_id=target["candidate_id"],
            model_version=target["model_version"],
            bento_tag=tag,
            from_candidate_id=current.get("candidate_id"),
            from_model_version=current.get("model_version"),
            from_bento_tag=current.get("bento_tag"),
            reviewer=reviewer.strip(),
            reason=reason.strip(),
        )
    return str(target["model_version"])


def expected_heads(model_name: str = "echojepa") -> list[str]:
    """`ledger_head` of every stored model named `model_name` (the ledger head at each promotion)."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        models = bentoml.models.list(model_name)
    except NotFound:
        return []
    heads = [str(m.info.metadata.get("ledger_head")) for m in models if m.info.metadata.get("ledger_head")]
    return sorted(set(heads))


def export_model(tag: str, s3_url: str, endpoint_url: str | None = None) -> str:
    """Export `tag` (bentoml.models.export_model) and upload it to `s3_url` (`s3://bucket/key` or `s3://bucket/prefix/`,
    where the file name `<name>-<version>.bentomodel` is appended). Credentials and region come from the
    environment
    (AWS_*); `endpoint_url` (or AWS_ENDPOINT_URL) for S3-compatible stores. Returns the object's s3:// URL."""
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
