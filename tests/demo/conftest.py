"""A three-video simulated dataset whose last two studies are held out (TEST), for the demo's clip steps;
and the release tests' SSH keys and isolated BentoML store, for the demo's release checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.release.conftest import bento_home, keys  # noqa: F401  (session SSH keys, isolated store)
from ultrasound.dataset import simulate_dataset
from ultrasound.echonet import file_list


@pytest.fixture(scope="session")
def held_out_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo-dataset")
    simulate_dataset(folder, 3, seed=3)
    table = pd.read_csv(file_list(folder))
    table["Split"] = ["TRAIN", "TEST", "test"]  # a lower-case split is still TEST (real manifests vary)
    table.to_csv(file_list(folder), index=False)
    return folder
