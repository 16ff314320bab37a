"""The reviewed bytes are the served bytes: a candidate's files are frozen at registration, and every
later copy is checked against the manifest the ledger recorded.

- `freeze_candidate` copies each file that will be packaged (encoder, target encoder, every probe, the
  resolved config, evaluation.json, the monitoring reference, the model card) into
  `registry/candidates/<id>/`, hashing the bytes it writes; the manifest `{name: sha256}` goes into the
  registration line. A later `dvc repro probe`, or a second run writing the same run folder, changes the
  run folder, not the frozen copies.
- `check_tree` compares a folder (the frozen copies before packaging, a model-store folder when the
  service loads it) with a manifest and names the first file that is missing, extra or different.
- `dvc_lock_hashes` records the data hashes of dvc.lock, so a reviewer can tell which data trained it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from release.durable import copy_durably, rename_durably
from release.ledger_chain import sha256_file

IGNORED = frozenset({"model.yaml"})  # BentoML's own metadata file inside a model folder
RUN_FILES = ("encoder.pt", "target_encoder.pt", "config.yaml")


class ManifestError(ValueError):
    """Files differ from the manifest the ledger recorded (one line naming the file)."""


def _checked_name(name: str) -> str:
    """A manifest name: a relative POSIX path inside the candidate folder (no `..`, not absolute)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or str(path) != name:
        raise ManifestError(f"bad candidate file name {name!r}: a relative path inside the model folder")
    return name


def run_files(run_dir: Path, **extra: Path) -> dict[str, Path]:
    """The files of a run folder that are packaged: encoder.pt (required), target_encoder.pt and
    config.yaml when present, every served probe (probes/<task>/seed-<n>.pt: the ensembles the evaluation
    gated), plus `extra` (e.g. `{"evaluation.json": ..., "reference.parquet": ..., "model_card.html": ...}`,
    keyword names with dots passed as a dict)."""
    run_dir = Path(run_dir)
    if not (run_dir / "encoder.pt").is_file():
        raise ManifestError(f"{run_dir / 'encoder.pt'} not found; nothing to register")
    files = {name: run_dir / name for name in RUN_FILES if (run_dir / name).is_file()}
    files |= {p.relative_to(run_dir).as_posix(): p for p in sorted((run_dir / "probes").glob("*/seed-*.pt"))}
    return files | {name: Path(path) for name, path in extra.items()}


def freeze_candidate(candidates_dir: Path, candidate_id: str, files: Mapping[str, Path]) -> dict[str, str]:
    """Copy `files` ({packaged name: source}) into `candidates_dir/<candidate_id>/`; the manifest.

    Copied into a temp folder first and renamed into place (write points `candidate-file` per file and
    `candidate-dir`), so `<id>/` is either complete or absent.
    """
    names = sorted(_checked_name(n) for n in files)
    missing = [n for n in names if not Path(files[n]).is_file()]
    if missing:
        raise ManifestError(f"candidate file {missing[0]} not found at {files[missing[0]]}")
    final = Path(candidates_dir) / candidate_id
    tmp = Path(candidates_dir) / f".{candidate_id}.tmp"
    if final.exists():
        raise ManifestError(f"{final} already exists")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    manifest = {name: copy_durably(Path(files[name]), tmp / name, label="candidate-file") for name in names}
    rename_durably(tmp, final, label="candidate-dir")
    return manifest


def tree_files(folder: Path) -> list[str]:
    """Relative names of the files under `folder` (BentoML's model.yaml left out)."""
    folder = Path(folder)
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()]
    return sorted(n for n in names if n not in IGNORED)


def check_tree(folder: Path, manifest: Mapping[str, str], what: str) -> None:
    """`folder` holds exactly the manifest's files with its hashes; ManifestError naming the first that
    does not (`what` says which folder, e.g. "the frozen files of cand-1")."""
    present = tree_files(folder)
    for name in sorted(manifest):
        path = Path(folder) / name
        if name not in present or path.is_symlink():
            raise ManifestError(f"{what}: {name} is missing (the manifest lists it)")
        if sha256_file(path) != manifest[name]:
            raise ManifestError(f"{what}: {name} differs from the registered manifest (sha256 changed)")
    extra = [n for n in present if n not in manifest]
    if extra:
        raise ManifestError(f"{what}: {extra[0]} is not in the registered manifest")


def dvc_lock_hashes(path: Path = Path("dvc.lock")) -> dict[str, str]:
    """{path: md5} of every dependency and output dvc.lock records ({} without a dvc.lock)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        return {}
    lock = yaml.safe_load(path.read_text()) or {}
    hashes: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for item in [*(stage.get("deps") or []), *(stage.get("outs") or [])]:
            digest = item.get("md5") or item.get("etag")  # DVC 3: `hash: md5` names the algorithm
            if item.get("path") and digest:
                hashes.setdefault(str(item["path"]), str(digest))
    return dict(sorted(hashes.items()))
