"""Pretraining entry point: setup → fit, resumable from the last checkpoint.

Single process (CPU):
    echojepa pretrain --out models/jepa-tiny
DDP on one node of 8 GPUs:
    echojepa pretrain --set trainer.accelerator=gpu trainer.devices=8 trainer.strategy=ddp
Several nodes (torchrun on each node):
    torchrun --nnodes 4 --nproc-per-node 8 --rdzv-endpoint HOST:29500 -m flows.cli pretrain \
        --set trainer.accelerator=gpu trainer.num_nodes=4 trainer.devices=8 trainer.strategy=ddp
SLURM:
    srun --nodes 4 --ntasks-per-node 8 echojepa pretrain --set trainer.num_nodes=4 trainer.devices=8 ...
Lightning reads the torchrun / SLURM environment; `fsdp` shards the large presets.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import lightning as L
import pandas as pd

from model.collapse import HeldOutClips, effective_ranks, held_out_clips
from model.config import PretrainConfig
from model.data import EchoDataModule
from model.embed import load_encoder
from model.jepa import JEPA
from model.pretrain_module import PretrainModule
from model.supervised import LabelledDataModule, Supervised
from model.videomae import VideoMAE

METHODS: dict[str, type[PretrainModule]] = {"jepa": JEPA, "videomae": VideoMAE, "supervised": Supervised}


def _share_through_files() -> None:
    """Spawned ranks hand tensors back through shared memory; small /dev/shm (containers) cannot hold
    them, files can."""
    import torch.multiprocessing

    torch.multiprocessing.set_sharing_strategy("file_system")


class StepBoundedBar(L.pytorch.callbacks.RichProgressBar):
    """Lightning's rich bar for a step-bounded run, whose epochs (checkpoint intervals) it would otherwise
    count as "Epoch 0/-2" (max_epochs unbounded). Setting max_epochs instead changes Lightning's step
    estimates and breaks exact resume, so only the description changes."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def _get_train_description(self, current_epoch: int) -> str:  # Lightning's own hook for the label
        return f"Epoch {current_epoch}/{self.epochs - 1}"


class EffectiveRankLog(L.Callback):
    """The collapse monitor during training: RankMe of the encoder (and V-JEPA's EMA target) on the held-out
    clips at every checkpoint, on rank 0, appended to effective_rank.csv (step, encoder, pooled, tokens,
    clips). Forward passes only, no randomness drawn, so a resumed run trains exactly as before."""

    def __init__(self, config: PretrainConfig, path: Path) -> None:
        self.config, self.path = config, path
        self.clips: HeldOutClips | None = None  # read on first use: the clip cache exists after prepare_data
        self.seconds = 0.0  # what the checkpoints' measurements cost this process

    def on_train_epoch_end(self, trainer: L.Trainer, module: PretrainModule) -> None:
        step, opt = trainer.global_step, self.config.optimization
        # a resumed run can end a short epoch off the grid; the curve keeps the uninterrupted run's steps
        if trainer.global_rank != 0 or (step % opt.checkpoint_every and step != opt.steps):
            return
        start = time.perf_counter()
        if self.clips is None:
            self.clips = held_out_clips(self.config.data)
        encoders = _encoders(module)
        figures = effective_ranks(encoders, self.clips)
        rows = [
            {"step": step, "encoder": name, **figures[name], "clips": figures["clips"]}
            for name in encoders
            if name in figures  # absent: too few held-out clips (the final figures say why)
        ]
        if rows:
            table = pd.DataFrame(rows)
            table.to_csv(self.path, mode="a", header=not self.path.exists(), index=False)
        self.seconds += time.perf_counter() - start


def _encoders(module: PretrainModule) -> dict:
    """The encoders a run saves, by file stem: encoder (V-JEPA's context encoder) and target_encoder."""
    found = {"encoder": module.encoder}
    if hasattr(module, "target_encoder"):
        found["target_encoder"] = module.target_encoder
    return found


def build_module(config: PretrainConfig) -> PretrainModule:
    L.seed_everything(config.optimization.seed, workers=True, verbose=False)
    return METHODS[config.optimization.method](config)


def pretrain(
    config: PretrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    max_steps: int | None = None,
) -> dict:
    """Pretrain an encoder; writes config.yaml, checkpoints/, metrics.json, loss.csv, effective_rank.csv and
    encoder.pt (+ target_encoder.pt) to `out_dir`.

    Args:
        resume: continue from `out_dir/checkpoints/last.ckpt` when it exists.
        max_steps: stop early at this step (to simulate an interruption); the schedule still spans
            `optimization.steps`.
    Returns:
        the metrics written to metrics.json.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.write(out / "config.yaml")  # the resolved model sections this run used
    if config.trainer.strategy == "ddp_spawn":
        _share_through_files()
    module = build_module(config)
    every = config.optimization.checkpoint_every
    if config.optimization.method == "supervised":  # the from-scratch baseline trains on labelled clips
        data: EchoDataModule = LabelledDataModule(config, steps_per_epoch=every)
    else:
        data = EchoDataModule(
            config.data, config.data_aug, seed=config.optimization.seed, steps_per_epoch=every
        )
    opt, tr = config.optimization, config.trainer
    # an epoch is one checkpoint interval, so every checkpoint sits on an epoch boundary (exact resume)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=out / "checkpoints",
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        save_last=True,
        save_top_k=0,
    )
    bar = [StepBoundedBar(math.ceil(opt.steps / every))] if progress else []
    last = out / "checkpoints" / "last.ckpt"
    ranks = EffectiveRankLog(config, out / "effective_rank.csv")
    if not (resume and last.exists()):  # a fresh run: no rows of an earlier one
        ranks.path.unlink(missing_ok=True)
    # FSDP shards the encoders' weights over ranks, so rank 0 alone cannot run them mid-training; the final
    # figures (from the saved files) are still measured
    callbacks = [checkpoint, *([] if "fsdp" in str(tr.strategy) else [ranks]), *bar]
    trainer = L.Trainer(
        accelerator=tr.accelerator, devices=tr.devices, num_nodes=tr.num_nodes, strategy=tr.strategy,
        precision=tr.precision, max_steps=max_steps or opt.steps, gradient_clip_val=opt.grad_clip,
        callbacks=callbacks, logger=L.pytorch.loggers.CSVLogger(out, name="logs", version=""),
        enable_progress_bar=progress, enable_model_summary=False, reload_dataloaders_every_n_epochs=1,
        deterministic=True, log_every_n_steps=1, num_sanity_val_steps=0, use_distributed_sampler=False,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume and last.exists() else None)
    elapsed = time.perf_counter() - start
    if trainer.global_rank != 0:
        return {}
    import torch

    torch.save(module.encoder.state_dict(), out / "encoder.pt")
    if hasattr(module, "target_encoder"):  # V-JEPA evaluates the EMA target; keep both
        torch.save(module.target_encoder.state_dict(), out / "target_encoder.pt")
    losses = _loss_curve(out)
    metrics = {
        "method": opt.method,
        "steps": int(trainer.global_step),
        "final_loss": float(losses.loss.tail(10).mean()) if len(losses) else float("nan"),
        "first_loss": float(losses.loss.head(10).mean()) if len(losses) else float("nan"),
        "seconds": round(elapsed, 2),
        "flops_per_step": module.step_flops(config.data.batch_size),
        "effective_rank": final_effective_ranks(
            config, out, tuple(_encoders(module)), trainer.strategy.root_device, ranks.clips
        ),
    }
    ranked = metrics["effective_rank"]
    ranked["seconds"] = round(ranked["seconds"] + ranks.seconds, 2)  # + the checkpoints' (this process's)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def final_effective_ranks(
    config: PretrainConfig, out: Path, names: tuple[str, ...], device=None, clips: HeldOutClips | None = None
) -> dict:
    """RankMe of the run's saved encoders (`names`: file stems in `out`, e.g. encoder, target_encoder) and of
    the random-init encoder (the run's architecture and seed, as evaluation's baseline) on the held-out
    clips; `by_step` holds the checkpoints' rows of effective_rank.csv, `seconds` what this measuring cost."""
    import torch

    start = time.perf_counter()
    clips = held_out_clips(config.data) if clips is None else clips
    with torch.random.fork_rng(devices=[]):  # load_encoder seeds torch; leave the caller's stream alone
        encoders = {"random_init": load_encoder(config, None)}
    encoders |= {name: load_encoder(config, out / f"{name}.pt") for name in names}
    figures = effective_ranks({k: v.to(device or "cpu") for k, v in encoders.items()}, clips)
    log = out / "effective_rank.csv"
    if log.is_file():
        rows = pd.read_csv(log).drop_duplicates(["step", "encoder"], keep="last")  # a resumed run's repeats
        figures["by_step"] = rows.to_dict(orient="records")
    return figures | {"seconds": round(time.perf_counter() - start, 2)}


def _loss_curve(out: Path) -> pd.DataFrame:
    """Per-step loss from Lightning's CSV log, written to loss.csv."""
    log = out / "logs" / "metrics.csv"
    if not log.exists():
        return pd.DataFrame(columns=["step", "loss"])
    table = pd.read_csv(log)
    curve = table[["step", "train/loss"]].dropna().rename(columns={"train/loss": "loss"})
    curve.to_csv(out / "loss.csv", index=False)
    return curve
