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

from model.config import PretrainConfig
from model.data import EchoDataModule
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
    """Pretrain an encoder; writes config.yaml, checkpoints/, metrics.json, loss.csv, encoder.pt to `out_dir`.

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
    trainer = L.Trainer(
        accelerator=tr.accelerator, devices=tr.devices, num_nodes=tr.num_nodes, strategy=tr.strategy,
        precision=tr.precision, max_steps=max_steps or opt.steps, gradient_clip_val=opt.grad_clip,
        callbacks=[checkpoint, *bar], logger=L.pytorch.loggers.CSVLogger(out, name="logs", version=""),
        enable_progress_bar=progress, enable_model_summary=False, reload_dataloaders_every_n_epochs=1,
        deterministic=True, log_every_n_steps=1, num_sanity_val_steps=0, use_distributed_sampler=False,
    )  # fmt: skip
    last = out / "checkpoints" / "last.ckpt"
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
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _loss_curve(out: Path) -> pd.DataFrame:
    """Per-step loss from Lightning's CSV log, written to loss.csv."""
    log = out / "logs" / "metrics.csv"
    if not log.exists():
        return pd.DataFrame(columns=["step", "loss"])
    table = pd.read_csv(log)
    curve = table[["step", "train/loss"]].dropna().rename(columns={"train/loss": "loss"})
    curve.to_csv(out / "loss.csv", index=False)
    return curve
