"""Two CPU processes (DDP over gloo) train exactly like one process on the same global batch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from model.train import pretrain


def _losses(run: Path) -> pd.Series:
    return pd.read_csv(run / "loss.csv").set_index("step").loss


@pytest.mark.parametrize("method", ["jepa"])
def test_two_process_ddp_matches_one_process(fast_config, tmp_path: Path, method: str) -> None:
    common = {"optimization.method": method, "optimization.steps": 4, "optimization.warmup": 1}
    single = fast_config(**common, **{"data.batch_size": 8})
    double = fast_config(
        **common, **{"data.batch_size": 4, "trainer.devices": 2, "trainer.strategy": "ddp_spawn"}
    )
    pretrain(single, tmp_path / "one", progress=False)
    pretrain(double, tmp_path / "two", progress=False)
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 4
    assert (one - two).abs().max() < 1e-4, pd.DataFrame({"one": one, "two": two})
