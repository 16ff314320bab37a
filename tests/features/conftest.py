"""Small hand-built manifests, facts and token caches for the feature-store tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ultrasound.quality import METRICS

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SPLITS = ("TRAIN", "VAL", "TEST")


def manifest(n: int, seed: int = 0) -> pd.DataFrame:
    """An EchoNet-layout manifest: n studies, two per patient, splits cycling TRAIN/VAL/TEST."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "FileName": [f"0X{i:010d}" for i in range(n)],
            "EF": rng.uniform(20, 75, n).round(4),
            "ESV": 50.0,
            "EDV": 120.0,
            "FrameHeight": 112,
            "FrameWidth": 112,
            "FPS": 50,
            "NumberOfFrames": 150,
            "Split": [SPLITS[i % 3] for i in range(n)],
            "View": [("A4C", "A2C")[i % 2] for i in range(n)],
            "PatientID": [f"P{i // 2:04d}" for i in range(n)],
            "Cohort": "adult",
            "Device": "sim-a",
            "StudyDate": "2023-06-01",
        }
    )


def facts(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """facts.csv as validation writes it: FileName, the quality metrics, decodable/frames/fps."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(rng.normal(size=(len(frame), len(METRICS))), columns=list(METRICS))
    out.insert(0, "FileName", frame.FileName.to_numpy())
    return out.assign(decodable=True, frames=150, fps=50.0)


def embeddings_dir(path: Path, frame: pd.DataFrame, clips: int = 2, tokens: int = 8, width: int = 16) -> Path:
    """A token cache as model.embed writes it: tokens [V, C, N, D] float16, pooled, index.csv."""
    rng = np.random.default_rng(2)
    path.mkdir(parents=True, exist_ok=True)
    tok = rng.normal(size=(len(frame), clips, tokens, width)).astype(np.float16)
    np.save(path / "tokens.npy", tok)
    np.save(path / "pooled.npy", tok.astype(np.float32).mean(axis=(1, 2)))
    frame.to_csv(path / "index.csv", index=False)
    return path


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_manifest() -> pd.DataFrame:
    return manifest(24)
