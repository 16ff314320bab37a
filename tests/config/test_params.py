"""The one typed root of params.yaml: every section validates, every default lives in params.yaml, and every
bad key — in the file or in `--set` — is the same one-line error naming `section.key`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.params import ConfigError, Params, load_params
from tests.packaged import REPO

PARAMS = REPO / "params.yaml"
SECTIONS = tuple(field.alias or name for name, field in Params.model_fields.items())


def _edited(tmp_path: Path, section: str, key: str, value) -> Path:
    raw = yaml.safe_load(PARAMS.read_text())
    raw[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_params_yaml_loads_as_the_tiny_preset() -> None:
    params = load_params(PARAMS)
    assert params.model.preset == "tiny" and params.optimization.method == "jepa"
    assert params.data_aug.crop_scale == (0.5, 1.0)
    assert set(yaml.safe_load(PARAMS.read_text())) == set(SECTIONS)  # one model per section, none missing


@pytest.mark.parametrize("section", SECTIONS)
def test_an_unknown_key_is_the_same_one_line_error_in_the_file_and_in_set(
    tmp_path: Path, section: str
) -> None:
    path = _edited(tmp_path, section, "bogus_key", 1)
    with pytest.raises(ConfigError) as in_file:
        load_params(path)
    path.write_text(PARAMS.read_text())  # the same file, clean: the key now comes from --set
    with pytest.raises(ConfigError) as in_set:
        load_params(path, [f"{section}.bogus_key=1"])
    expected = f"{path}: {section}.bogus_key: unknown key"
    assert str(in_file.value) == str(in_set.value) == expected


def test_an_unknown_section_and_bad_values_name_their_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"params.yaml: optimizer: unknown key$"):
        load_params(PARAMS, ["optimizer.steps=3"])
    cases = [
        ("model", "preset", "gigantic", "model.preset"),
        ("optimization", "warmup", 5000, "warmup"),
        ("data", "frames", -4, "data.frames: Input should be greater than 0"),
        ("probe", "fractions", [0.5], "probe.fractions: fractions must lie in"),
    ]
    for section, key, value, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            load_params(_edited(tmp_path, section, key, value))
        assert "\n" not in str(info.value)


def test_a_missing_key_is_named_and_no_section_model_has_a_default(tmp_path: Path) -> None:
    raw = yaml.safe_load(PARAMS.read_text())
    del raw["serving"]["port"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"serving.port: missing"):
        load_params(path)
    # defaults live in params.yaml only; the one exception: the probe grid, which params.yaml sets, defaults
    # to empty so that a run's params.resolved.yaml written before the grid existed still loads (one head)
    legacy = {"probe": ["lr_grid", "wd_grid"]}
    for name, field in Params.model_fields.items():
        section = field.annotation
        defaults = [k for k, f in section.model_fields.items() if not f.is_required()]
        assert defaults == legacy.get(name, []), f"{name}: code defaults {defaults}"
    assert {"lr_grid", "wd_grid"} <= set(raw["probe"])  # ... and params.yaml sets them


def test_overrides_reach_any_depth_and_a_run_records_its_resolved_config(tmp_path: Path) -> None:
    params = load_params(PARAMS, ["gates.no_regression_tolerance.ef_mae=1.5", "probe.seeds=[0]"])
    assert params.gates.no_regression_tolerance.ef_mae == 1.5 and params.probe.seeds == (0,)
    written = params.write_resolved(tmp_path)
    assert load_params(written) == params
    assert params.with_overrides({"optimization.steps": 700}).optimization.steps == 700
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        load_params(PARAMS, ["steps=3"])
