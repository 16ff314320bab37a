"""JEPA training mechanics: EMA target without gradients at the scheduled rate; the loss falls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.jepa import JEPA
from model.train import pretrain


def test_target_encoder_gets_no_gradient_and_follows_the_ema(fast_config) -> None:
    config = fast_config()
    module = JEPA(config)
    clips = torch.randn(2, 1, 8, 64, 64)
    loss, logs = module.compute_loss(clips)
    loss.backward()
    assert all(p.grad is None for p in module.target_encoder.parameters())
    assert any(p.grad is not None for p in module.encoder.parameters())
    assert 0.4 < logs["mask_short"] < 0.8 and 0.6 < logs["mask_long"] < 0.95

    with torch.no_grad():
        for p in module.encoder.parameters():
            p.add_(1.0)  # pretend an optimiser step moved the encoder by 1
    before = [p.clone() for p in module.target_encoder.parameters()]
    online = [p.clone() for p in module.encoder.parameters()]
    module.log = lambda *a, **k: None  # outside a Trainer
    module.on_train_batch_end(None, None, 0)  # global_step 0: momentum = ema start
    m = config.optimization.ema[0]
    for b, o, a in zip(before, online, module.target_encoder.parameters(), strict=True):
        assert torch.allclose(a, m * b + (1 - m) * o, atol=1e-6)


def test_tiny_run_lowers_its_loss(fast_config, tmp_path: Path) -> None:
    config = fast_config(**{"optimization.steps": 40, "optimization.warmup": 4, "optimization.lr": 1e-3})
    metrics = pretrain(config, tmp_path / "run", progress=False)
    assert metrics["steps"] == 40
    assert metrics["final_loss"] < 0.8 * metrics["first_loss"]
    assert (tmp_path / "run" / "encoder.pt").exists() and (tmp_path / "run" / "loss.csv").exists()
    assert (tmp_path / "run" / "config.yaml").read_text().startswith("data:")


@pytest.mark.parametrize("method", ["jepa", "videomae"])
def test_killed_run_resumes_to_the_same_weights(fast_config, tmp_path: Path, method: str) -> None:
    config = fast_config(**{"optimization.method": method})
    pretrain(config, tmp_path / "full", progress=False)
    pretrain(config, tmp_path / "split", progress=False, max_steps=8)  # "killed" after step 8
    pretrain(config, tmp_path / "split", progress=False)  # resumes from the step-8 checkpoint
    full = torch.load(tmp_path / "full" / "encoder.pt")
    split = torch.load(tmp_path / "split" / "encoder.pt")
    for key in full:
        assert torch.allclose(full[key], split[key], atol=1e-5), key
    # the collapse monitor's checkpoints: the same figures, each step once, whether killed or not
    ranks = {
        run: json.loads((tmp_path / run / "metrics.json").read_text())["effective_rank"]
        for run in ("full", "split")
    }
    steps = [(r["step"], r["encoder"]) for r in ranks["split"]["by_step"]]
    assert steps == [(r["step"], r["encoder"]) for r in ranks["full"]["by_step"]] and len(set(steps)) == len(
        steps
    )
    for a, b in zip(ranks["full"]["by_step"], ranks["split"]["by_step"], strict=True):
        assert a["tokens"] == pytest.approx(b["tokens"], abs=1e-2), a
