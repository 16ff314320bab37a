"""GPU benchmark (prepared for an H100/H200; not run on CPU): the ViT-L/16 JEPA step at 16×224² with
bf16 autocast, SDPA attention and torch.compile; model FLOPs utilisation against the chip's bf16 peak.

    python -m benchmarks.gpu_mfu --batch 16 --steps 20 [--no-compile] --out reports/benchmarks/gpu_mfu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from config.params import load_params
from model.train import build_module

PEAK_BF16_DENSE = {"H200": 989e12, "H100": 989e12, "A100": 312e12}  # vendor dense bf16 tensor-core peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/gpu_mfu.json"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_mfu: no CUDA device; this benchmark needs a GPU")
    overrides = {
        "model.preset": "large", "data.frames": 16, "data.resolution": 224, "data.batch_size": args.batch,
        "model.predictor_width": 384, "model.predictor_depth": 12, "model.predictor_heads": 12,
    }  # fmt: skip
    config = load_params("params.yaml", overrides).pretrain
    module = build_module(config).cuda()
    params = [p for m in module.trainable_modules() for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-4, fused=True)
    step_fn = module.compute_loss if args.no_compile else torch.compile(module.compute_loss)
    clips = torch.randn(args.batch, 1, 16, 224, 224, device="cuda")
    times = []
    for i in range(args.steps + 3):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss, _ = step_fn(clips)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - start)
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_DENSE.items() if k in name), None)
    seconds = statistics.median(times)
    flops = module.step_flops(args.batch)
    result = {
        "device": name, "batch": args.batch, "compile": not args.no_compile, "step_s": seconds,
        "model_tflops_per_step": flops / 1e12, "achieved_tflops": flops / seconds / 1e12,
        "mfu": flops / seconds / peak if peak else None, "peak_bf16_dense": peak,
        "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
