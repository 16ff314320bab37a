"""What the evaluation leaves for monitoring and for the no-regression gates: the monitoring reference (the
TEST rows' quality metrics, served predictions and pooled embeddings under this very model) and the identity
of the TEST set.

The probes train on TRAIN + VAL, so the held-out split whose predictions are out of sample (as production
predictions are) is TEST. The reference is written into the run layout by `evaluate`, so it exists, and can
be hashed into the release manifest, before a release is registered; packaging copies it unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.probe_protocol import TaskProbes
from ultrasound.quality import METRICS


def test_set(frame: pd.DataFrame, test: np.ndarray) -> dict:
    """How many TEST studies, and a digest of their names (the no-regression gates compare like with like)."""
    names = "\n".join(sorted(frame.FileName[test].astype(str)))
    return {"n": int(test.sum()), "sha256": hashlib.sha256(names.encode()).hexdigest()}


def monitoring_reference(
    frame: pd.DataFrame, test: np.ndarray, tokens: np.ndarray, scored: dict, facts: Path
) -> pd.DataFrame:
    """FileName, the quality metrics (the validate stage's facts.csv), `ef` and `view` as served (the
    ensemble) and the pooled `embedding` of every TEST study."""
    out = frame.loc[test, ["FileName"]].reset_index(drop=True)
    if Path(facts).is_file():
        quality = pd.read_csv(facts, dtype={"FileName": str})
        columns = ["FileName", *[m for m in METRICS if m in quality]]
        out = out.merge(quality[columns].drop_duplicates("FileName"), on="FileName", how="left")
    for task, result in scored.items():
        if isinstance(result, TaskProbes):
            names = frame.FileName.astype(str).to_numpy()[result.test_rows]
            served = result.served
            if task == "view":
                served = np.array(result.ensemble.class_names)[served.argmax(1)]
            out[task] = out.FileName.map(dict(zip(names, served, strict=True)))
    pooled = np.asarray(tokens[test], dtype=np.float32).mean(axis=(1, 2))
    out["embedding"] = list(pooled)
    return out
