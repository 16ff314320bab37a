"""The video contract: each video must decode and hold what its manifest row claims, and must look like an
echo at all (quality metrics inside generous contract ranges).

The claims are compared as absolute gaps (decoded minus declared) so one tolerance per quantity, from
ContractConfig, decides; a gap is NaN when the video did not decode, and then only `reason` fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from data_contracts.config import ContractConfig
from data_contracts.facts import OK

# decoded fact -> the manifest column that declares it
DECLARED = {"height": "FrameHeight", "width": "FrameWidth", "frames": "NumberOfFrames", "fps": "FPS"}


def video_frame(facts: pd.DataFrame, manifest: pd.DataFrame, config: ContractConfig) -> pd.DataFrame:
    """The frame the video suite runs on: one row per manifest row (same index).

    Args:
        facts: measure_facts output.
        manifest: manifest_frame output (numeric declared columns).
    """
    frame = pd.DataFrame({"FileName": facts["FileName"], "reason": facts["reason"]}, index=facts.index)
    for fact, declared in DECLARED.items():
        frame[f"{fact}_gap"] = (facts[fact] - manifest[declared]).abs().astype(np.float64)
    for metric in config.quality_ranges:
        frame[metric] = facts[metric].astype(np.float64)
    return frame


def video_expectations(config: ContractConfig) -> list[Any]:
    """The video suite's expectations (GX objects; GX is imported here, not at module import)."""
    import great_expectations.expectations as gxe

    between = gxe.ExpectColumnValuesToBeBetween
    tolerance = {
        "height_gap": config.resolution_tolerance,
        "width_gap": config.resolution_tolerance,
        "frames_gap": config.frame_count_tolerance,
        "fps_gap": config.fps_tolerance,
    }
    checks: list[Any] = [gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=[OK])]
    checks += [between(column=col, max_value=float(tol)) for col, tol in tolerance.items()]
    checks += [
        between(column=metric, min_value=float(lo), max_value=float(hi))
        for metric, (lo, hi) in config.quality_ranges.items()
    ]
    return checks
