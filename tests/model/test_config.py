"""Configs: defaults from params.yaml, unknown or mistyped keys rejected by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.config import load_config


def test_params_yaml_loads_as_the_tiny_preset() -> None:
    config = load_config("params.yaml")
    assert config.model.preset == "tiny" and config.optimization.method == "jepa"
    assert config.data_aug.crop_scale == (0.5, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("optimization:\n  lrr: 0.1\n", "optimization.lrr: unknown key"),
        ("model:\n  preset: gigantic\n", "model.preset"),
        ("optimization:\n  steps: 10\n  warmup: 20\n", "warmup"),
        ("data:\n  frames: -4\n", "data.frames"),
    ],
)
def test_bad_keys_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value)
