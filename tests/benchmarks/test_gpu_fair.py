"""The GPU fair benchmark (benchmarks/gpu_fair.py) on this CPU: its FLOP counter against a hand count and
against torch's own counter, its masks, and one end-to-end `--device cpu --tiny` run in a subprocess (the
JSON's keys, equal FLOPs within one step, finite MAEs, the mean predictor recomputed from the saved labels).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.gpu_fair_models import (
    JEPA,
    Arch,
    VideoMAE,
    ViT,
    blocks_flops,
    encoder_flops,
    jepa_step_flops,
    multiblock_masks,
    tube_masks,
    videomae_step_flops,
)

ROOT = Path(__file__).resolve().parents[2]
# 1 block of width 8 on a 1×2×2 grid: 4 tokens of 2·16·16 = 512 pixels; predictor and decoder width 4
HAND = Arch(8, 1, 2, 4, 1, 1, 4, 1, 1, frames=2, resolution=32)


def test_flop_counter_matches_a_hand_count() -> None:
    # blocks: 24·N·D² + 4·N²·D; N = 4, D = 8: 6144 + 512
    assert blocks_flops(4, 8, 1) == 6656
    # patch embedding 2·4·512·8 = 32768, then the blocks on 4 tokens (6656) or on 2 (3072 + 128)
    assert encoder_flops(HAND, 4) == 39424
    assert encoder_flops(HAND, 2) == 35968
    # JEPA, 2 context + 2 target tokens: the target forward 39424, then 3 × (context encoder 35968
    # + predictor: embed 2·2·8·4 = 128, blocks on 4 tokens of width 4 (1536 + 256), out 2·2·4·8 = 128)
    assert jepa_step_flops(HAND, 1, [(2, 2)]) == 39424 + 3 * (35968 + 128 + 1792 + 128) == 153472
    # VideoMAE, 1 visible + 3 masked: 3 × (encoder 32768 + 1536 + 32, decoder: embed 2·1·8·4 = 64,
    # blocks on 4 tokens 1792, pixel head 2·3·4·512 = 12288)
    assert videomae_step_flops(HAND, 1, 1, 3) == 3 * (34336 + 64 + 1792 + 12288) == 145440
    assert jepa_step_flops(HAND, 5, [(2, 2), (1, 3)]) == 5 * jepa_step_flops(HAND, 1, [(2, 2), (1, 3)])


def test_forward_flops_match_torch_flop_counter() -> None:
    """The analytic forward counts equal torch's count of the matmuls, convolutions and attention (the math
    SDPA backend, whose matmuls the counter sees) for the encoder and for each method's loss."""
    arch = Arch(16, 2, 2, 8, 1, 2, 8, 1, 2, frames=4, resolution=32)
    torch.manual_seed(0)
    clips, g = torch.randn(3, 1, 4, 32, 32), torch.Generator().manual_seed(0)
    encoder, target = ViT(arch), 3 * encoder_flops(arch, arch.tokens)
    with sdpa_kernel(SDPBackend.MATH):
        with FlopCounterMode(display=False) as counter:
            encoder(clips)
        assert counter.get_total_flops() == target
        with FlopCounterMode(display=False) as counter:
            _, flops = JEPA(arch, encoder).loss(clips, g)
        assert counter.get_total_flops() == (flops - target) // 3 + target  # the target runs forward only
        with FlopCounterMode(display=False) as counter:
            _, flops = VideoMAE(arch, ViT(arch)).loss(clips, g)
        assert counter.get_total_flops() == flops // 3


def test_masks_split_the_tokens() -> None:
    g, grid = torch.Generator().manual_seed(0), (8, 7, 7)
    for blocks, scale in ((8, 0.15), (2, 0.7)):
        ctx, tgt = multiblock_masks(blocks, scale, 16, grid, g)
        assert ctx.shape[1] >= 4 * 8 and tgt.shape[1] > 0
        for c, t in zip(ctx.tolist(), tgt.tolist(), strict=True):
            assert not set(c) & set(t) and c == sorted(c)
    visible, masked = tube_masks(0.9, 4, grid, g)
    assert visible.shape == (4, 8 * 5) and masked.shape == (4, 8 * 44)
    for v, m in zip(visible.tolist(), masked.tolist(), strict=True):
        assert sorted(v + m) == list(range(392))
        assert {i % 49 for i in v}.isdisjoint({i % 49 for i in m})  # a tube: hidden in every frame


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("gpu_fair") / "gpu_fair.json"
    command = [sys.executable, "-m", "benchmarks.gpu_fair", "--device", "cpu", "--tiny", "--budget-s", "60"]
    subprocess.run([*command, "--out", str(out)], cwd=ROOT, check=True, timeout=240)
    return json.loads(out.read_text())


def test_tiny_run_writes_every_key(tiny_run: dict) -> None:
    top = {"ok", "checks", "machine", "config", "data", "flop_budget", "methods", "comparisons", "labels"}
    assert set(tiny_run) == top | {"seconds"}
    assert set(tiny_run["machine"]) == {"device", "torch", "python", "cpus"}
    assert set(tiny_run["methods"]) == {"jepa", "videomae", "random_init", "mean_predictor"}
    for name in ("jepa", "videomae"):
        method = tiny_run["methods"][name]
        for key in (
            "flops",
            "steps",
            "batch",
            "samples",
            "wall_s",
            "samples_per_s",
            "tflops_per_s",
            "loss_final",
        ):
            assert key in method, (name, key)
        assert method["samples"] == method["steps"] * method["batch"] and method["steps"] > 0
        assert math.isfinite(method["loss_final"])
    for name in ("jepa", "videomae", "random_init"):
        assert {"test_mae", "test_mae_ci95", "lr", "rankme"} <= set(tiny_run["methods"][name]["probe"])
    assert set(tiny_run["comparisons"]) == {
        "jepa - videomae", "jepa - random_init", "jepa - mean_predictor",
        "videomae - random_init", "videomae - mean_predictor",
    }  # fmt: skip
    assert tiny_run["config"]["device"] == "cpu" and tiny_run["seconds"]["total"] > 0


def test_tiny_run_gives_both_methods_equal_flops(tiny_run: dict) -> None:
    jepa, videomae = tiny_run["methods"]["jepa"], tiny_run["methods"]["videomae"]
    one_step = max(jepa["step_flops_max"], videomae["step_flops_max"])
    assert abs(jepa["flops"] - videomae["flops"]) <= one_step
    # a VideoMAE step encodes 10 % of the tokens: the same FLOPs buy it more steps
    assert videomae["step_flops_mean"] < jepa["step_flops_mean"]
    assert tiny_run["checks"]["flops_equal_within_one_step"] and tiny_run["checks"]["both_trained"]


def test_tiny_run_maes_are_finite_and_the_mean_predictor_recomputes(tiny_run: dict) -> None:
    methods, labels = tiny_run["methods"], tiny_run["labels"]
    test_ef, train_val_ef = np.array(labels["test_ef"]), np.array(labels["train_val_ef"])
    assert len(test_ef) == tiny_run["data"]["splits"]["TEST"]
    assert len(train_val_ef) == tiny_run["data"]["splits"]["TRAIN"] + tiny_run["data"]["splits"]["VAL"]
    hand = np.abs(test_ef - train_val_ef.mean()).mean()
    assert methods["mean_predictor"]["test_mae"] == pytest.approx(hand, abs=1e-3)
    for name in ("jepa", "videomae", "random_init"):
        probe = methods[name]["probe"]
        assert math.isfinite(probe["test_mae"])
        assert probe["test_mae"] == pytest.approx(
            np.abs(np.array(probe["test_predictions"]) - test_ef).mean(), abs=1e-2
        )
        lo, hi = probe["test_mae_ci95"]
        assert lo <= probe["test_mae"] <= hi
    diff = tiny_run["comparisons"]["jepa - mean_predictor"]["mae_difference"]
    assert diff == pytest.approx(methods["jepa"]["probe"]["test_mae"] - methods["mean_predictor"]["test_mae"])
