"""JEPA against VideoMAE at equal training FLOPs in one short GPU window (issue 15, item 6), standalone.

On one H200 within `--budget-s` (default 240 s) of wall time from the start of the process: renders its own
benchmark on the machine's cores (the repo's simulator, `ultrasound.simulator`; the platform's clips: 16
frames every 4th, 112², several per video, kept as uint8 on the GPU), pretrains a ViT-S/16 with JEPA and
with VideoMAE from one initialisation on the same batches (random resized crops drawn on the GPU, bf16
autocast + SDPA) for the same analytic training FLOPs, then probes each frozen encoder, the random-init
encoder and the mean predictor for EF (attentive probes: an lr × wd grid fitted on TRAIN, selected on VAL,
refitted on TRAIN+VAL, scored on TEST; paired-bootstrap 95 % CIs over TEST videos) and writes one JSON.
JEPA's EMA target encoder is the one probed (the platform serves the target). Pretraining sees TRAIN only.

Needs the standard library, numpy, torch and scipy (the simulator's one extra dependency). Without scipy on
the GPU machine, carry its wheel: `pip download scipy --only-binary :all: --python-version 3.12
--platform manylinux2014_x86_64 -d wheels/` here, `pip install --no-index wheels/scipy-*.whl` there. No
pydantic, Lightning or PyAV: the models live in `benchmarks/gpu_fair_models.py`, not the platform's `model/`.

    python -m benchmarks.gpu_fair --out reports/benchmarks/gpu_fair.json              # the GPU run, ≤ 240 s
    python -m benchmarks.gpu_fair --device cpu --tiny --budget-s 60 --out /tmp/g.json  # the CPU smoke test
"""

from __future__ import annotations

import time

START = time.perf_counter()  # the budget counts from here, before torch is imported

import argparse  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.gpu_fair_models import (  # noqa: E402
    JEPA,
    SMALL,
    TINY,
    Arch,
    ProbeRecipe,
    VideoMAE,
    ViT,
    embed,
    fit_probes,
    mixed_precision,
    predict,
)

SPLITS = ("TRAIN", "VAL", "TEST")


@dataclasses.dataclass(frozen=True)
class Config:
    """One run's settings; `--tiny` swaps in TINY_OVERRIDES."""

    arch: Arch = SMALL
    videos: int = 2000  # 250 TEST videos: the standard error of a MAE near 8 is about 0.4
    frame_step: int = 4  # params.yaml pretrain.data: 16 frames × 4 = 1.3 s at 50 fps, at least one beat
    batch: int = 128
    lr: float = 5e-4  # one optimiser for both: AdamW, β₂ 0.95 (MAE, V-JEPA), cosine after 10 % warm-up
    weight_decay: float = 0.05
    # V-JEPA 2's 0.99925 is set for ~10⁵ steps: at ~10³ it would leave half the initial weights in the
    # target (0.99925¹⁰⁰⁰ = 0.47); the tiny recipe's ramp to 1 kept 22 % and collapsed; 0.998¹⁰⁰⁰ = 0.14
    ema: float = 0.998
    crop_scale: tuple[float, float] = (0.5, 1.0)  # params.yaml data_aug (EchoJEPA's echo settings)
    crop_aspect: tuple[float, float] = (0.9, 1.1)
    probe: ProbeRecipe = dataclasses.field(default_factory=ProbeRecipe)  # its clips_per_video: the cache's
    render_share: float = 0.2  # of the budget, at most: rendering stops on time and keeps what it has
    probe_share: float = 0.15  # reserved for embedding and probing the three encoders
    tail_share: float = 0.03  # bootstrap and the JSON
    draws: int = 2000
    seed: int = 0


TINY_OVERRIDES = {
    "arch": TINY, "videos": 24, "batch": 4, "draws": 500,
    "probe": ProbeRecipe(heads=2, epochs=4, batch=16, lrs=(1e-3, 3e-3), clips_per_video=2),
    "render_share": 0.4, "probe_share": 0.25,  # two shared cores render and probe slowly
}  # fmt: skip


def _render_one(job: tuple) -> tuple[np.ndarray, float]:
    """One study -> (uint8 clips [K, T, H, W] at evenly spaced starts, EF)."""
    from ultrasound.simulator import render_study

    study, clips, frames, step = job
    video = render_study(study)
    span = (frames - 1) * step + 1
    starts = np.linspace(0, video.video.shape[0] - span, clips).round().astype(int)
    return np.stack([video.video[s : s + span : step] for s in starts]), video.ef


def render(cfg: Config, deadline: float) -> dict:
    """The platform's simulated studies (plan_studies: splits drawn per patient) rendered in a process pool
    until `deadline` (and until every split has 2 videos); a prefix of the plan is kept."""
    try:
        from ultrasound.dataset import plan_studies
        from ultrasound.simulator import render_study  # noqa: F401  (imports scipy: checked here)
    except ImportError as error:
        raise SystemExit(
            f"gpu_fair: the simulator needs scipy ({error}); pip install a scipy wheel"
        ) from None
    plan = plan_studies(cfg.videos, cfg.seed)
    splits = [split for _, split, _ in plan]
    if any(splits.count(s) < 2 for s in SPLITS):
        raise SystemExit(f"gpu_fair: --videos {cfg.videos} leaves a split with fewer than 2 videos; raise it")
    jobs = [(study, cfg.probe.clips_per_video, cfg.arch.frames, cfg.frame_step) for study, _, _ in plan]
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    clips, efs = [], []
    # fork: CUDA is not initialised yet, and the workers need not import torch again
    with mp.get_context("fork" if sys.platform == "linux" else "spawn").Pool(workers) as pool:
        for clip, ef in pool.imap(_render_one, jobs, chunksize=2):
            clips.append(clip)
            efs.append(ef)
            if time.perf_counter() > deadline and all(splits[: len(clips)].count(s) >= 2 for s in SPLITS):
                pool.terminate()
                break
    split = np.array(splits[: len(clips)])
    return {"clips": np.stack(clips), "ef": np.array(efs), "split": split, "workers": workers}


def random_crops(cache: torch.Tensor, index: torch.Tensor, cfg: Config, g: torch.Generator) -> torch.Tensor:
    """Random resized crops of cache[index] on its device, one per clip for all its frames.
    cache: uint8 [C, T, H, W]; index: [B] -> float [B, 1, T, R, R] in [0, 1]."""
    b, r = index.shape[0], cfg.arch.resolution
    x = cache[index].float() / 255
    u = torch.rand(b, 4, generator=g, device=cache.device)
    scale = cfg.crop_scale[0] + (cfg.crop_scale[1] - cfg.crop_scale[0]) * u[:, 0]
    lo, hi = math.log(cfg.crop_aspect[0]), math.log(cfg.crop_aspect[1])
    aspect = torch.exp(lo + (hi - lo) * u[:, 1])
    width, height = (scale * aspect).sqrt().clamp(max=1), (scale / aspect).sqrt().clamp(max=1)
    zero = torch.zeros_like(width)
    theta = torch.stack(
        [
            torch.stack([width, zero, (1 - width) * (2 * u[:, 2] - 1)], 1),
            torch.stack([zero, height, (1 - height) * (2 * u[:, 3] - 1)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, [b, x.shape[1], r, r], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", align_corners=False).unsqueeze(1)


def learning_rate(progress: float, peak: float, warmup: float = 0.1) -> float:
    """LR at `progress` = FLOPs done / FLOP budget (the same schedule in FLOPs for both methods): linear
    warm-up over the first 10 %, then cosine decay to zero."""
    if progress < warmup:
        return peak * max(progress, 0.01) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


class Method:
    """One pretraining run: module, optimiser, FLOP ledger, losses, and data and mask streams seeded alike for
    both methods (so both see the same clips and crops in the same order).

    data: (cache uint8 [C, T, H, W], TRAIN clip indices [n]); stats: the pixels' mean and std."""

    def __init__(self, name: str, module: JEPA | VideoMAE, cfg: Config, data: tuple, stats: tuple) -> None:
        self.name, self.module, self.cfg, self.stats = name, module, cfg, stats
        self.cache, self.train = data
        self.initial = copy.deepcopy(module.state_dict())
        g = torch.Generator(device=self.cache.device).manual_seed(cfg.seed + 2)
        self.step_flops_planned = module.planned_step_flops(cfg.batch, g)
        self.budget, self.timed = 1.0, (0.0, 0)  # the FLOP budget; seconds and FLOPs of the timed steps
        self.reset()

    def reset(self) -> None:
        """Back to the initial weights, a fresh optimiser and the streams' first draws."""
        dev = self.cache.device
        self.module.load_state_dict(self.initial)
        params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params,
            self.cfg.lr,
            betas=(0.9, 0.95),
            weight_decay=self.cfg.weight_decay,
            fused=dev.type == "cuda",
        )
        self.data_rng = torch.Generator(device=dev).manual_seed(self.cfg.seed)
        self.mask_rng = torch.Generator(device=dev).manual_seed(self.cfg.seed + 1)
        self.flops, self.steps, self.seconds, self.losses, self.step_flops = 0, 0, 0.0, [], []

    def step(self) -> None:
        start = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.flops / self.budget, self.cfg.lr)
        pick = torch.randint(
            0, len(self.train), (self.cfg.batch,), generator=self.data_rng, device=self.cache.device
        )
        clips = (
            random_crops(self.cache, self.train[pick], self.cfg, self.data_rng) - self.stats[0]
        ) / self.stats[1]
        with mixed_precision(clips.device):
            loss, flops = self.module.loss(clips, self.mask_rng)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.module.after_step(self.cfg.ema)
        self.losses.append(loss.item())  # synchronises, so the step's seconds are the device's
        self.flops, self.steps = self.flops + flops, self.steps + 1
        self.step_flops.append(flops)
        self.seconds += time.perf_counter() - start

    def report(self, stopped_on_time: bool) -> dict:
        b, s, tail = self.cfg.batch, self.seconds, self.losses[-max(1, len(self.losses) // 10) :]
        return {
            "flops": self.flops, "steps": self.steps, "batch": b,
            "samples": self.steps * b, "step_flops_mean": float(np.mean(self.step_flops)),
            "step_flops_max": max(self.step_flops), "wall_s": round(s, 2),
            "samples_per_s": round(self.steps * b / s, 1), "tflops_per_s": round(self.flops / s / 1e12, 4),
            "loss_first": self.losses[0],
            "loss_final": float(np.mean(tail)), "stopped_on_time": stopped_on_time,
        }  # fmt: skip


def pretrain(methods: list[Method], deadline: float, timed_steps: int = 2) -> tuple[float, bool]:
    """Equal FLOPs within one step. 1. time a few steps of each method, then reset it; 2. the common FLOP
    budget F is what both can reach by `deadline` at their measured seconds per FLOP (the timed steps and all
    steps since), re-planned before every step as the rates settle; 3. interleave: the method with fewer FLOPs
    so far steps next, until both reach F (or time runs out: both stop within one step of each other).
    Returns (F, stopped on time)."""
    for m in methods:
        m.step()  # warm-up (kernels, allocator), not timed
        m.seconds, m.flops = 0.0, 0
        for _ in range(timed_steps):
            m.step()
        m.timed = (m.seconds, m.flops)
        m.reset()
    floor = max(m.step_flops_planned for m in methods)  # at least one step each, so every run reports
    while True:
        rate = {m.name: (m.seconds + m.timed[0]) / (m.flops + m.timed[1]) for m in methods}
        # Σ (F − FLOPs done) · seconds per FLOP = the seconds left
        left = deadline - time.perf_counter()
        budget = max(floor, (left + sum(m.flops * rate[m.name] for m in methods)) / sum(rate.values()))
        for m in methods:
            m.budget = budget
        m = min(methods, key=lambda x: x.flops)
        if m.flops + m.step_flops_planned / 2 >= budget:
            return budget, False
        if m.steps and 1.5 * m.step_flops_planned * rate[m.name] > left:
            return budget, True
        m.step()


def probe_encoder(
    encoder: ViT, cache: torch.Tensor, data: dict, stats: tuple, cfg: Config, deadline: float
) -> dict:
    """The lr × wd grid fitted on TRAIN, selected on VAL, refitted on TRAIN+VAL, scored on TEST."""
    tokens, k, ef = embed(encoder, cache, stats), cfg.probe.clips_per_video, data["ef"]
    ids = {s: torch.as_tensor(np.flatnonzero(data["split"] == s), device=cache.device) for s in SPLITS}
    grid = [(lr, wd) for lr in cfg.probe.lrs for wd in cfg.probe.wds]
    grid_deadline = time.perf_counter() + 0.6 * (deadline - time.perf_counter())  # the refit trains one probe
    probes, grid_epochs = fit_probes(tokens, ids["TRAIN"], ef, grid, cfg.probe, grid_deadline)
    val_mae = np.abs(predict(probes, tokens, ids["VAL"], k) - ef[ids["VAL"].cpu().numpy()]).mean(1)
    best = grid[int(np.argmin(val_mae))]
    final, final_epochs = fit_probes(
        tokens, torch.cat([ids["TRAIN"], ids["VAL"]]), ef, [best], cfg.probe, deadline
    )
    pooled = tokens.float().mean(1)
    p = torch.linalg.svdvals(pooled - pooled.mean(0))
    p = p / p.sum() + 1e-12
    return {
        "lr": best[0], "weight_decay": best[1], "val_mae_grid": [round(float(v), 3) for v in val_mae],
        "epochs": {"grid": grid_epochs, "refit": final_epochs, "planned": cfg.probe.epochs},
        "rankme": float(torch.exp(-(p * p.log()).sum())),  # effective rank of pooled TRAIN..TEST embeddings
        "test_predictions": predict(final, tokens, ids["TEST"], k)[0].astype(float).round(3).tolist(),
    }  # fmt: skip


def bootstrap(err_a: np.ndarray, err_b: np.ndarray | None, draws: int, seed: int) -> dict:
    """MAE of a (or MAE(a) − MAE(b), paired over TEST videos) with its bootstrap 95 % interval."""
    idx = np.random.default_rng(seed).integers(0, len(err_a), (draws, len(err_a)))
    stat = err_a[idx].mean(1) - (0 if err_b is None else err_b[idx].mean(1))
    lo, hi = (float(v) for v in np.percentile(stat, [2.5, 97.5]))
    value = float(err_a.mean() - (0 if err_b is None else err_b.mean()))
    return {"mae": value, "ci95": [lo, hi]} if err_b is None else {
        "mae_difference": value, "ci95": [lo, hi], "excludes_zero": lo > 0 or hi < 0}  # fmt: skip


def setup(cfg: Config, device: str, data: dict) -> tuple:
    """The GPU-resident clip cache, pixel statistics, the two methods and the random-init encoder."""
    dev = torch.device(device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    k = cfg.probe.clips_per_video
    cache = torch.from_numpy(data["clips"]).to(dev).flatten(0, 1)  # uint8 [V·K, T, H, W], kept resident
    train_videos = np.flatnonzero(data["split"] == "TRAIN")  # pretraining sees TRAIN videos only
    train = torch.as_tensor((train_videos[:, None] * k + np.arange(k)).ravel(), device=dev)
    sample = cache[train[: 64 * k]].float() / 255
    stats = (float(sample.mean()), float(sample.std()))
    torch.manual_seed(cfg.seed)
    encoder = ViT(cfg.arch).to(dev)  # one initialisation for both methods and the random-init baseline
    torch.manual_seed(cfg.seed + 1)
    methods = [
        Method("jepa", JEPA(cfg.arch, copy.deepcopy(encoder)).to(dev), cfg, (cache, train), stats),
        Method("videomae", VideoMAE(cfg.arch, copy.deepcopy(encoder)).to(dev), cfg, (cache, train), stats),
    ]
    return cache, stats, methods, encoder


def run(cfg: Config, device: str, budget_s: float) -> dict:
    """Render, set up, pretrain both methods, probe the three encoders: the JSON-ready result."""
    end, marks = START + budget_s, {"start": START, "imports": time.perf_counter()}
    data = render(cfg, START + cfg.render_share * budget_s)
    marks["render"] = time.perf_counter()
    # CUDA is first touched here, after the fork-based render pool has finished
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_fair: --device cuda but no CUDA device; pass --device cpu --tiny")
    cache, stats, methods, random_init = setup(cfg, device, data)
    marks["setup"] = time.perf_counter()
    budget, stopped = pretrain(methods, end - (cfg.probe_share + cfg.tail_share) * budget_s)
    marks["pretrain"] = time.perf_counter()
    encoders = {
        "jepa": methods[0].module.target,
        "videomae": methods[1].module.encoder,
        "random_init": random_init,
    }
    probe_deadline, probes = end - cfg.tail_share * budget_s, {}
    for i, (name, encoder) in enumerate(encoders.items()):  # an equal share of what is left for each
        share = (probe_deadline - time.perf_counter()) / (len(encoders) - i)
        probes[name] = probe_encoder(encoder, cache, data, stats, cfg, time.perf_counter() + share)
    marks["probes"] = time.perf_counter()
    methods_out = {m.name: m.report(stopped) for m in methods} | {"random_init": {}}
    result = summarise(cfg, data, methods_out, probes)
    names = list(marks)
    seconds = {b: round(marks[b] - marks[a], 2) for a, b in itertools.pairwise(names)}
    seconds["total"] = round(time.perf_counter() - START, 2)
    result["checks"]["within_budget"] = seconds["total"] <= 1.05 * budget_s
    machine = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu"
    return {
        "ok": all(result["checks"].values()),
        "machine": {"device": machine, "torch": torch.__version__, "python": platform.python_version(),
                    "cpus": data["workers"]},
        "config": dataclasses.asdict(cfg) | {"device": device, "budget_s": budget_s},
        "data": {"videos_planned": cfg.videos, "videos_rendered": len(data["ef"]), "tokens": cfg.arch.tokens,
                 "pixel_mean_std": list(stats), "splits": {s: int(sum(data["split"] == s)) for s in SPLITS}},
        "flop_budget": budget, **result, "seconds": seconds,
    }  # fmt: skip


def summarise(cfg: Config, data: dict, methods: dict, probes: dict) -> dict:
    """TEST MAEs with bootstrap CIs, the paired comparisons, the checks and the labels behind them."""
    test = data["split"] == "TEST"
    test_ef, train_val_ef = data["ef"][test], data["ef"][~test]
    errors = {name: np.abs(np.array(p["test_predictions"]) - test_ef) for name, p in probes.items()}
    errors["mean_predictor"] = np.abs(train_val_ef.mean() - test_ef)  # the TRAIN+VAL mean for every video
    methods["mean_predictor"] = {"prediction": float(train_val_ef.mean())}
    for name, err in errors.items():
        ci = bootstrap(err, None, cfg.draws, cfg.seed)
        entry = {"test_mae": ci["mae"], "test_mae_ci95": ci["ci95"]}
        methods[name] |= {"probe": probes[name] | entry} if name in probes else entry
    baselines = ("random_init", "mean_predictor")
    pairs = [("jepa", "videomae")] + [(a, b) for a in ("jepa", "videomae") for b in baselines]
    jepa, mae = methods["jepa"], methods["videomae"]
    return {
        "methods": methods,
        "comparisons": {f"{a} - {b}": bootstrap(errors[a], errors[b], cfg.draws, cfg.seed) for a, b in pairs},
        "checks": {
            "flops_equal_within_one_step":
                abs(jepa["flops"] - mae["flops"]) <= max(jepa["step_flops_max"], mae["step_flops_max"]),
            "both_trained": min(jepa["steps"], mae["steps"]) > 0,
            "maes_finite": bool(all(np.isfinite(e.mean()) for e in errors.values())),
        },
        "labels": {"train_val_ef": train_val_ef.round(4).tolist(), "test_ef": test_ef.round(4).tolist()},
    }  # fmt: skip


def print_table(result: dict) -> None:
    ms = result["methods"]
    for name in ("jepa", "videomae"):
        m = ms[name]
        print(f"{name:9s} {m['steps']:5d} steps × {m['batch']}  {m['flops'] / 1e15:.4f} PFLOP  "
              f"{m['wall_s']:.1f} s  {m['tflops_per_s']:.2f} TFLOP/s  loss {m['loss_final']:.4f}  "
              f"TEST MAE {m['probe']['test_mae']:.2f}")  # fmt: skip
    print(f"random-init TEST MAE {ms['random_init']['probe']['test_mae']:.2f}, "
          f"mean predictor {ms['mean_predictor']['test_mae']:.2f}")  # fmt: skip
    for name, c in result["comparisons"].items():
        print(f"  {name}: {c['mae_difference']:+.2f}  95 % CI [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]")
    print(f"ok {result['ok']} {result['checks']}  {result['seconds']['total']:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=240.0, help="total wall seconds from process start")
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda when available)")
    parser.add_argument("--tiny", action="store_true", help="the CPU smoke test: few videos, a tiny ViT")
    parser.add_argument("--videos", type=int, help="studies to render (default 2000; --tiny 24)")
    parser.add_argument("--batch", type=int, help="pretraining batch (default 128; --tiny 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/gpu_fair.json"))
    args = parser.parse_args(argv)
    cfg = Config(**(TINY_OVERRIDES if args.tiny else {}), seed=args.seed)
    cfg = dataclasses.replace(cfg, probe=dataclasses.replace(cfg.probe, seed=args.seed))
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (("videos", args.videos), ("batch", args.batch)) if v})
    result = run(cfg, args.device, args.budget_s)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
