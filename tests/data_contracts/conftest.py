"""A small simulated dataset shared by the data-contract tests, and helpers to derive broken variants of it.

Variants link the clean videos instead of copying them, so each one costs a FileList.csv, not a render.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from ultrasound.dataset import simulate_dataset
from ultrasound.video_io import write_avi

CONTRACT_VIDEOS = 24
CONTRACT_SEED = 11


@pytest.fixture(scope="session")
def contract_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean mixed-cohort dataset in EchoNet-Dynamic layout: every row satisfies every contract."""
    out = tmp_path_factory.mktemp("contract_sim")
    simulate_dataset(out, CONTRACT_VIDEOS, seed=CONTRACT_SEED, cohort="mixed", workers=2)
    return out


@pytest.fixture
def contract_table(contract_dir: Path) -> pd.DataFrame:
    """The clean manifest as text, a fresh copy per test so tests may edit it."""
    return pd.read_csv(contract_dir / "FileList.csv", dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture
def make_variant(contract_dir: Path, tmp_path: Path) -> Callable[..., Path]:
    """Build a dataset folder with `table` as its manifest (default: the clean one) and the clean videos,
    symlinked, or copied when the test damages some."""

    def build(table: pd.DataFrame | None = None, copy_videos: bool = False, name: str = "variant") -> Path:
        dst = tmp_path / name
        dst.mkdir(parents=True)
        if copy_videos:
            shutil.copytree(contract_dir / "Videos", dst / "Videos")
        else:
            (dst / "Videos").symlink_to(contract_dir / "Videos", target_is_directory=True)
        if table is None:
            shutil.copy(contract_dir / "FileList.csv", dst / "FileList.csv")
        else:
            table.to_csv(dst / "FileList.csv", index=False)
        return dst

    return build


@pytest.fixture(scope="session")
def damaged_dir(contract_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clean dataset with rows 0-5 damaged: truncated to half, random bytes, a PNG renamed .avi,
    deleted, a constant grey clip, a black clip (4 and 5 keep their declared size and length)."""
    root = tmp_path_factory.mktemp("contract_damaged")
    shutil.copytree(contract_dir / "Videos", root / "Videos")
    shutil.copy(contract_dir / "FileList.csv", root / "FileList.csv")
    table = pd.read_csv(root / "FileList.csv")
    videos = [root / "Videos" / f"{n}.avi" for n in table["FileName"]]
    data = videos[0].read_bytes()
    videos[0].write_bytes(data[: len(data) // 2])
    videos[1].write_bytes(np.random.default_rng(0).bytes(20_000))
    cv2.imwrite(str(root / "frame.png"), np.zeros((112, 112), np.uint8))
    shutil.move(root / "frame.png", videos[2])
    videos[3].unlink()
    for row, level in ((4, 128), (5, 0)):
        write_avi(videos[row], np.full((int(table.loc[row, "NumberOfFrames"]), 112, 112), level, np.uint8))
    return root
