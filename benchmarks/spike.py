"""Science spike: EF-probe MAE against pretraining compute for JEPA, VideoMAE and a random frozen encoder.

    python -m benchmarks.spike --steps 100 200 300 --seeds 0 1 2

Same data, same encoder size, same batch and steps for both methods (equal updates, as EchoJEPA matched
EchoMAE), same attentive probe. Writes reports/spike/results.json and reports/spike/curves.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from model.config import ProbeConfig, load_config, token_time_steps
from model.embed import embed_videos, load_encoder
from model.probe_eval import probe_runs, split_masks
from model.train import pretrain


def probe_mae(tokens: np.ndarray, table, seeds: list[int], spec) -> list[float]:
    """EF MAE on TEST of the attentive probe trained on all TRAIN + VAL labels, one value per seed."""
    train, test = split_masks(table)
    runs = probe_runs(tokens, table.EF.to_numpy(float), "regression", train, test, 1.0, tuple(seeds), spec)
    return [run["mae"] for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["jepa", "videomae"])
    parser.add_argument("--out", type=Path, default=Path("reports/spike"))
    parser.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    base = load_config("params.yaml", overrides)
    dataset = Path(base.data.root) / base.data.dataset
    cache = Path(base.data.cache) / base.data.dataset
    spec = ProbeConfig().spec(time_steps=token_time_steps(base))
    results: dict = {"config": base.model_dump(mode="json"), "probe": spec.__dict__, "runs": []}
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    tokens, table = embed_videos(load_encoder(base, None), base, dataset, cache)
    maes = probe_mae(tokens, table, args.seeds, spec)
    results["runs"].append({"method": "random", "steps": 0, "mae": maes, "seconds": time.perf_counter() - t0})
    print(f"random: MAE {np.mean(maes):.2f} ± {np.std(maes):.2f}", flush=True)
    for method in args.methods:
        for steps in args.steps:
            config = load_config(
                "params.yaml", overrides | {"optimization.method": method, "optimization.steps": steps}
            )
            run_dir = args.out / f"{method}-{steps}"
            t0 = time.perf_counter()
            metrics = pretrain(config, run_dir, resume=False, progress=False)
            tokens, _ = embed_videos(load_encoder(config, run_dir / "encoder.pt"), config, dataset, cache)
            maes = probe_mae(tokens, table, args.seeds, spec)
            results["runs"].append(
                {
                    "method": method,
                    "steps": steps,
                    "mae": maes,
                    "pretrain": metrics,
                    "seconds": time.perf_counter() - t0,
                }
            )
            summary = f"MAE {np.mean(maes):.2f} ± {np.std(maes):.2f} ({metrics['seconds']:.0f} s pretraining)"
            print(f"{method} {steps} steps: {summary}", flush=True)
            (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "curves.png")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in ("jepa", "videomae"):
        runs = [r for r in results["runs"] if r["method"] == method]
        if runs:
            flops = [r["pretrain"]["flops_per_step"] * r["steps"] for r in runs]
            ax.errorbar(
                flops,
                [np.mean(r["mae"]) for r in runs],
                yerr=[np.std(r["mae"]) for r in runs],
                marker="o",
                label=method,
            )
    rnd = next(r for r in results["runs"] if r["method"] == "random")
    ax.axhline(np.mean(rnd["mae"]), color="grey", linestyle="--", label="random init")
    ax.set_xlabel("pretraining compute (estimated FLOPs)")
    ax.set_ylabel("EF MAE, attentive probe (test)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
