"""Pretraining speed on this CPU: JEPA and VideoMAE steps at the `tiny` preset, the data pipeline's clips/s
measured in the same run, and our JEPA step at the V-JEPA 2 reference configuration (vit_tiny 192×12,
predictor 96×4, batch 8, 16×112², both mask generators, 2 threads; the reference code takes ≈ 1.47 s).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from config.params import load_params
from model.data import EchoDataModule
from model.train import build_module


def _step_seconds(overrides: dict, repeats: int = 6, warmup: int = 2) -> tuple[float, float]:
    """Median seconds of one optimiser step (forward, backward, AdamW, EMA) and its estimated FLOPs."""
    config = load_params("params.yaml", overrides).pretrain
    module = build_module(config)
    optimizer = torch.optim.AdamW([p for m in module.trainable_modules() for p in m.parameters()], lr=1e-4)
    d = config.data
    clips = torch.randn(d.batch_size, 1, d.frames, d.resolution, d.resolution)
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        loss, _ = module.compute_loss(clips)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if hasattr(module, "update_target"):  # JEPA's EMA target update is part of its step
            module.update_target(0.999)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times), module.step_flops(d.batch_size)


def _pipeline_clips_per_s(batches: int = 30) -> float:
    config = load_params("params.yaml").pretrain
    data = EchoDataModule(config.data, config.data_aug, seed=0, steps_per_epoch=batches)
    data.prepare_data()
    data.setup()
    loader = data.train_dataloader()
    start = time.perf_counter()
    n = sum(batch["clips"].shape[0] for batch in loader)
    return n / (time.perf_counter() - start)


def run() -> dict:
    torch.set_num_threads(2)
    out: dict = {"threads": torch.get_num_threads()}
    dataset = Path("data/raw/synthetic/FileList.csv")
    if dataset.exists():
        out["pipeline_clips_per_s"] = round(_pipeline_clips_per_s(), 1)
    for method in ("jepa", "videomae"):
        seconds, flops = _step_seconds({"optimization.method": method})
        batch = load_params("params.yaml").pretrain.data.batch_size
        out[f"{method}_tiny"] = {
            "step_s": round(seconds, 3),
            "clips_per_s": round(batch / seconds, 1),
            "gflops_per_step": round(flops / 1e9, 1),
            "gflops_per_s": round(flops / seconds / 1e9, 1),
        }
    if "pipeline_clips_per_s" in out:
        consumed = max(out["jepa_tiny"]["clips_per_s"], out["videomae_tiny"]["clips_per_s"])
        out["pipeline_over_training"] = round(out["pipeline_clips_per_s"] / consumed, 1)
    seconds, flops = _step_seconds(
        {"model.preset": "vit_tiny", "model.predictor_width": 96, "model.predictor_depth": 4},
        repeats=4,
        warmup=1,
    )
    out["vjepa2_reference_config"] = {
        "step_s": round(seconds, 3),
        "reference_step_s": 1.47,
        "ratio_to_reference": round(seconds / 1.47, 2),
        "gflops_per_step": round(flops / 1e9, 1),
    }
    return out
