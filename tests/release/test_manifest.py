"""Freezing a candidate's files and checking folders against the manifest: every difference is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.ledger_chain import sha256_file
from release.manifest import ManifestError, check_tree, dvc_lock_hashes, freeze_candidate, run_files
from tests.release.releases import files_of, make_run


def test_freeze_copies_and_hashes_every_file(tmp_path: Path) -> None:
    run = make_run(tmp_path, 3)
    files = files_of(run)
    assert sorted(files) == [
        "config.yaml",
        "encoder.pt",
        "evaluation.json",
        "model_card.html",
        "probes/ef/seed-0.pt",
        "probes/view/seed-0.pt",
        "reference.parquet",
        "target_encoder.pt",
    ]
    manifest = freeze_candidate(tmp_path / "candidates", "cand-1", files)
    assert manifest == {name: sha256_file(path) for name, path in files.items()}
    frozen = tmp_path / "candidates" / "cand-1"
    assert (frozen / "probes" / "ef" / "seed-0.pt").read_bytes() == b"ef-probe-3"
    assert not (tmp_path / "candidates" / ".cand-1.tmp").exists()
    check_tree(frozen, manifest, "frozen")
    (run / "probes" / "ef" / "seed-0.pt").write_bytes(
        b"retrained during the wait"
    )  # the run folder moves on ...
    check_tree(frozen, manifest, "frozen")  # ... the frozen copy does not
    with pytest.raises(ManifestError, match="already exists"):
        freeze_candidate(tmp_path / "candidates", "cand-1", files)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("edit", "probes/ef/seed-0.pt differs from the registered manifest"),
        ("remove", "probes/ef/seed-0.pt is missing"),
        ("add", "probes/ef/seed-9.pt is not in the registered manifest"),
        ("symlink", "probes/ef/seed-0.pt is missing"),
    ],
)
def test_check_tree_names_the_file(tmp_path: Path, change: str, why: str) -> None:
    manifest = freeze_candidate(tmp_path / "c", "cand-1", files_of(make_run(tmp_path, 1)))
    probe = tmp_path / "c" / "cand-1" / "probes" / "ef" / "seed-0.pt"
    probe.chmod(0o644)
    if change == "edit":
        probe.write_bytes(b"other head")
    elif change == "remove":
        probe.unlink()
    elif change == "add":
        (probe.parent / "seed-9.pt").write_bytes(b"x")
    else:
        probe.unlink()
        outside = tmp_path / "run1" / "probes" / "ef" / "seed-0.pt"
        probe.symlink_to(outside)  # same bytes, but outside the folder
    with pytest.raises(ManifestError, match=f"cand-1: {why}"):
        check_tree(tmp_path / "c" / "cand-1", manifest, "cand-1")


@pytest.mark.parametrize("name", ["../evil.pt", "/etc/passwd", "probes/../../x", ""])
def test_names_stay_inside_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ManifestError, match="bad candidate file name"):
        freeze_candidate(tmp_path / "c", "cand-1", {name: make_run(tmp_path, 1) / "encoder.pt"})


def test_run_files_and_dvc_lock(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"encoder\.pt"):
        run_files(tmp_path)
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        "schema: '2.0'\nstages:\n  simulate:\n    cmd: x\n    outs:\n    - path: data/raw/synthetic\n"
        "      md5: 1a2b.dir\n  pretrain:\n    cmd: y\n    deps:\n    - path: data/raw/synthetic\n"
        "      md5: 1a2b.dir\n    - path: params.yaml\n    outs:\n    - path: models/jepa-tiny/encoder.pt\n"
        "      hash: md5\n      md5: 9f9f\n"
    )
    assert dvc_lock_hashes(lock) == {"data/raw/synthetic": "1a2b.dir", "models/jepa-tiny/encoder.pt": "9f9f"}
    assert dvc_lock_hashes(tmp_path / "none.lock") == {}
