"""Probes: shapes, label fractions, and that they learn a signal that is in the tokens."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from config.params import load_params
from model.probe_artifact import ProbeArtifact
from model.probes import (
    AttentiveProbe,
    LinearProbe,
    classification_metrics,
    fit_probe,
    fit_probe_heads,
    label_fraction,
    regression_metrics,
)
from tests.packaged import REPO


def _spec(**fields):
    """params.yaml's probe spec with some fields changed."""
    return replace(load_params(REPO / "params.yaml").probe.spec(), **fields)


def _fit_predict(train_tokens, target, task: str, spec, test_tokens, classes: tuple[str, ...] = ()):
    """Fit one probe, wrap it as the artifact the probe stage saves, predict other tokens with it."""
    kind = "regression" if task == "ef" else "classification"
    module, mean, std = fit_probe(train_tokens, target, kind, spec, 0, len(classes))
    artifact = ProbeArtifact.from_module(
        task, module, spec, train_tokens.shape[-1], seed=0, train_examples=len(target), target_mean=mean,
        target_std=std, class_names=classes,
    )  # fmt: skip
    return artifact.predict(test_tokens)


def test_probe_shapes() -> None:
    tokens = torch.randn(3, 50, 32)
    assert AttentiveProbe(32, 5, depth=2, heads=4)(tokens).shape == (3, 5)
    assert LinearProbe(32, 1)(tokens).shape == (3, 1)


def test_label_fraction_is_stratified_seeded_with_a_floor() -> None:
    views = np.repeat(np.arange(5), [100, 50, 20, 5, 3])
    subset = label_fraction(views, 0.01, seed=0)
    counts = np.bincount(views[subset], minlength=5)
    assert (counts >= 2).all() and counts[0] == 2
    assert np.array_equal(subset, label_fraction(views, 0.01, seed=0))
    assert not np.array_equal(label_fraction(views, 0.5, seed=0), label_fraction(views, 0.5, seed=1))
    ef = np.random.default_rng(0).uniform(10, 80, 300)
    assert len(label_fraction(ef, 0.1, seed=0)) == 30


def _tokens_with_signal(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ef = rng.uniform(10, 80, n)
    view = rng.integers(0, 3, n)
    tokens = rng.normal(0, 1, (n, 2, 20, 16)).astype(np.float32)
    tokens += 2.0 * rng.normal(0, 1, (1, 1, 20, 16)).astype(
        np.float32
    )  # a fixed code per position, as encoders add
    tokens[:, :, 3, 0] += (ef[:, None] - 45) / 10  # EF lives in one token
    tokens[:, :, :, 1] += 2.0 * view[:, None, None]  # the view everywhere
    return tokens, ef, view


def test_probes_learn_the_signal() -> None:
    rng = np.random.default_rng(0)
    tokens, ef, view = _tokens_with_signal(240, rng)
    train, test = slice(0, 180), slice(180, None)
    spec = _spec(epochs=30, lr=3e-3, time_steps=0)
    reg = regression_metrics(_fit_predict(tokens[train], ef[train], "ef", spec, tokens[test]), ef[test])
    baseline = np.abs(ef[test] - ef[train].mean()).mean()
    assert reg["mae"] < 0.5 * baseline and reg["r2"] > 0.6
    probs = _fit_predict(tokens[train], view[train], "view", spec, tokens[test], ("A", "B", "C"))
    cls = classification_metrics(probs, view[test])
    assert cls["accuracy"] > 0.9 and cls["macro_f1"] > 0.9


def _tokens_with_motion(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """4 time steps × 5 positions; the target is how far one position's token swings over the clip (as EF
    is how far the ventricle empties) on top of a static level that differs per video (as anatomy and
    gain do), with a random phase so that no single time step carries it."""
    amplitude = rng.uniform(0.5, 3.0, n)
    tokens = rng.normal(0, 0.2, (n, 2, 4, 5, 8)).astype(np.float32)
    tokens += rng.normal(0, 1, (1, 1, 1, 5, 8)).astype(np.float32)  # a fixed code per position
    tokens[:, :, :, 2, 0] += rng.normal(0, 3, (n, 1, 1)).astype(np.float32)  # the per-video static level
    phase = rng.uniform(0, 2 * np.pi, (n, 2, 1))
    tokens[:, :, :, 2, 0] += (amplitude[:, None, None] * np.cos(phase + np.arange(4) * np.pi / 2)).astype(
        np.float32
    )
    return tokens.reshape(n, 2, 20, 8), amplitude


def test_temporal_contrast_lets_the_probe_read_motion_amplitude() -> None:
    rng = np.random.default_rng(0)
    tokens, amplitude = _tokens_with_motion(240, rng)
    train, test = slice(0, 180), slice(180, None)
    baseline = np.abs(amplitude[test] - amplitude[train].mean()).mean()
    maes = {}
    for steps in (0, 4):
        spec = _spec(epochs=30, lr=3e-3, time_steps=steps)
        predicted = _fit_predict(tokens[train], amplitude[train], "ef", spec, tokens[test])
        maes[steps] = regression_metrics(predicted, amplitude[test])["mae"]
    assert maes[4] < 0.5 * baseline  # the swing is readable with the temporal-contrast input
    assert maes[4] < 0.6 * maes[0]  # and clearly better than with the plain pooling probe
    assert AttentiveProbe(8, 1, time_steps=4)(torch.randn(3, 20, 8)).shape == (3, 1)


def test_heads_trained_in_one_pass_equal_the_same_heads_trained_alone() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(20, 2, 6, 8)).astype(np.float16)
    target = rng.uniform(20, 70, 20)
    spec = _spec(epochs=3, batch_size=8, time_steps=0)
    grid = ((1e-3, 0.01), (3e-4, 0.1))
    heads, mean, _ = fit_probe_heads(tokens, target, "regression", spec, 0, 0, grid)
    assert len(heads) == 2 and mean == pytest.approx(target.mean())
    for head, (lr, wd) in zip(heads, grid, strict=True):
        alone, _, _ = fit_probe(tokens, target, "regression", replace(spec, lr=lr, weight_decay=wd), 0)
        for key, value in alone.state_dict().items():
            torch.testing.assert_close(head.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    # the heads differ by their settings only, and those settings matter
    assert not torch.allclose(heads[0].head.weight, heads[1].head.weight)


def test_a_probe_config_without_a_grid_is_one_head_and_a_bad_grid_is_refused() -> None:
    from pydantic import ValidationError

    from model.config import ProbeConfig

    probe = load_params(REPO / "params.yaml").probe
    older = {k: v for k, v in probe.model_dump().items() if k not in ("lr_grid", "wd_grid")}
    single = ProbeConfig.model_validate(older, strict=False)  # a config written before the grid
    assert single.grid() == ((probe.lr, probe.weight_decay),) and not single.selects_on_val
    assert probe.selects_on_val and len(probe.grid()) == 4  # params.yaml: 2 lr × 2 wd at tiny
    for bad in ({"lr_grid": [0.001, 0.0]}, {"wd_grid": [0.1, 0.1]}):
        with pytest.raises(ValidationError, match=next(iter(bad))):
            ProbeConfig.model_validate(older | bad, strict=False)
