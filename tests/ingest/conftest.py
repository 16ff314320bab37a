"""Sources in the real layouts, built from one small simulated dataset: EchoNet-Dynamic (nine columns,
FileName without .avi, tracings with .avi), EchoNet-Pediatric (A4C/ and PSAX/ with 10-fold Split and clinical
columns) and clinical DICOM (identifiers in tags and burned into the pixels)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ultrasound.dataset import ECHONET_COLUMNS, simulate_dataset

N_VIDEOS = 6
DYNAMIC_COLUMNS = list(ECHONET_COLUMNS)  # a real EchoNet-Dynamic FileList.csv has only these
# fold of each simulated video in the pediatric source (first half A4C, second half PSAX)
PEDIATRIC_FOLDS = [0, 8, 9, 3, 9, 8]
TEST_SALT = "test-salt-not-secret-0123456789abcdef"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(autouse=True)
def _deid_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test salt in the environment: an EchoNet-layout ingest of clinical-looking names pseudonymises
    them, and without this it would create .secrets/deid_salt in the working directory."""
    monkeypatch.setenv("ECHOJEPA_DEID_SALT", TEST_SALT)


@pytest.fixture(scope="session")
def sim_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six simulated adult videos in the platform layout (about 1.5 s to render)."""
    out = tmp_path_factory.mktemp("sim_small")
    simulate_dataset(out, N_VIDEOS, seed=7, cohort="adult", workers=1)
    return out


def make_dynamic(sim: Path, dst: Path) -> Path:
    """The real EchoNet-Dynamic layout: FileList with its nine columns only; tracings' FileName has .avi."""
    write_rows(dst / "FileList.csv", DYNAMIC_COLUMNS, read_rows(sim / "FileList.csv"))
    tracings = read_rows(sim / "VolumeTracings.csv")
    for row in tracings:
        row["FileName"] += ".avi"
    write_rows(dst / "VolumeTracings.csv", ["FileName", "X1", "Y1", "X2", "Y2", "Frame"], tracings)
    shutil.copytree(sim / "Videos", dst / "Videos")
    return dst


def make_pediatric(sim: Path, dst: Path) -> Path:
    """The EchoNet-Pediatric layout: A4C/ and PSAX/, FileName with .avi, fold Split, Sex/Age/Weight/Height,
    no volumes or frame facts, point tracings (FileName,X,Y,Frame)."""
    rows = read_rows(sim / "FileList.csv")
    tracings = read_rows(sim / "VolumeTracings.csv")
    half = len(rows) // 2
    for view, part in (("A4C", rows[:half]), ("PSAX", rows[half:])):
        folder = dst / view
        (folder / "Videos").mkdir(parents=True)
        listed = []
        for row in part:
            index = rows.index(row)
            listed.append({
                "FileName": f"{row['FileName']}.avi", "EF": row["EF"], "Sex": "F", "Age": "7",
                "Weight": "23", "Height": "121", "Split": str(PEDIATRIC_FOLDS[index]),
            })  # fmt: skip
            shutil.copy(sim / "Videos" / f"{row['FileName']}.avi", folder / "Videos")
        write_rows(
            folder / "FileList.csv", ["FileName", "EF", "Sex", "Age", "Weight", "Height", "Split"], listed
        )
        names = {r["FileName"] for r in part}
        points = [
            {"FileName": f"{t['FileName']}.avi", "X": t["X1"], "Y": t["Y1"], "Frame": t["Frame"]}
            for t in tracings
            if t["FileName"] in names
        ]
        write_rows(folder / "VolumeTracings.csv", ["FileName", "X", "Y", "Frame"], points)
    return dst


def rename_clips(src: Path, names: dict[str, str]) -> Path:
    """Rename clips of an EchoNet-layout folder: every FileList.csv, VolumeTracings.csv and Videos/*.avi
    under `src`; `names` maps old FileName → new, both without `.avi` (a listed `.avi` suffix is kept)."""
    for table in [*src.rglob("FileList.csv"), *src.rglob("VolumeTracings.csv")]:
        with table.open(newline="") as fh:
            reader = csv.DictReader(fh)
            rows, columns = list(reader), list(reader.fieldnames or [])
        for row in rows:
            stem = row["FileName"].removesuffix(".avi")
            row["FileName"] = names.get(stem, stem) + row["FileName"][len(stem) :]
        write_rows(table, columns, rows)
    for video in sorted(src.rglob("Videos/*.avi")):
        if video.stem in names:
            video.rename(video.with_name(f"{names[video.stem]}.avi"))
    return src


def tree_state(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under root: (mtime_ns, bytes), by relative path."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
