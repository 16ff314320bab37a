"""Clips for training: a uint8 clip cache decoded once from any EchoNet-layout folder, and a seeded
LightningDataModule that cuts clips, random-resized-crops and normalises them.

Sampling is a pure function of (seed, epoch, index), so runs repeat exactly and a resumed run sees the
same clips as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from config.layout import DataLayout
from model.config import AugmentConfig, DataConfig
from ultrasound.echonet import file_list, video_file
from ultrasound.video_io import read_video

MEAN, STD = 50.0, 55.0  # grey-level statistics of echo sectors (EchoNet-Dynamic: mean ≈ 49, std ≈ 53)


def build_clip_cache(
    dataset_dir: Path,
    cache_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
    manifest: Path | None = None,
) -> pd.DataFrame:
    """Decode every video of the manifest (default FileList.csv) once into `cache_dir/<FileName>.npy`
    (uint8 [T, H, W]). Videos already cached with the same size are skipped; returns the manifest rows."""
    dataset_dir, cache_dir = Path(dataset_dir), Path(cache_dir)
    table = pd.read_csv(manifest or file_list(dataset_dir))
    cache_dir.mkdir(parents=True, exist_ok=True)
    index_path = cache_dir / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for i, name in enumerate(table.FileName):
        video_path = video_file(dataset_dir, name)
        stamp = video_path.stat().st_size
        if index.get(name) != stamp or not (cache_dir / f"{name}.npy").exists():
            np.save(cache_dir / f"{name}.npy", read_video(video_path).frames)
            index[name] = stamp
        if on_progress:
            on_progress(i + 1, len(table))
    index_path.write_text(json.dumps(index))
    return table


def clip_starts(n_frames: int, span: int, count: int) -> list[int]:
    """`count` evenly spaced clip starts covering a video (test-time averaging)."""
    last = max(0, n_frames - span)
    return [round(s) for s in np.linspace(0, last, count).tolist()]


def cut_clip(video: np.ndarray, start: int, frames: int, step: int) -> np.ndarray:
    """frames × step sampling from `start`, looping the video when it is too short: uint8 [frames, H, W]."""
    idx = (start + np.arange(frames) * step) % len(video)
    return video[idx]


def to_tensor(
    clip: np.ndarray, resolution: int, crop: tuple[int, int, int, int] | None = None
) -> torch.Tensor:
    """uint8 [T, H, W] -> normalised float [1, T, R, R], after an optional (top, left, h, w) crop."""
    x = torch.from_numpy(np.ascontiguousarray(clip)).float()
    if crop is not None:
        top, left, h, w = crop
        x = x[:, top : top + h, left : left + w]
    x = F.interpolate(x[None], size=(resolution, resolution), mode="bilinear", align_corners=False)[0]
    return ((x - MEAN) / STD)[None]


def random_crop(rng: np.random.Generator, h: int, w: int, aug: AugmentConfig) -> tuple[int, int, int, int]:
    """A random-resized-crop box (scale of the area, aspect ratio) inside an h × w frame."""
    area = rng.uniform(*aug.crop_scale) * h * w
    aspect = np.exp(rng.uniform(np.log(aug.crop_aspect[0]), np.log(aug.crop_aspect[1])))
    ch, cw = min(h, round(np.sqrt(area / aspect))), min(w, round(np.sqrt(area * aspect)))
    return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw


class ClipDataset(Dataset):
    """A window of `length` items of an endless, seeded stream of training clips.

    Item j is stream position g = start + j: video perm(seed, pass)[g mod V] with pass = g // V, clip
    start and crop drawn from rng(seed, g). The data module sets `start` from the global step whenever it
    builds a loader, so a resumed run continues the exact stream an uninterrupted run sees, whatever
    the loop's epoch bookkeeping does on restart.
    """

    def __init__(
        self, cache_dir: Path, names: list[str], data: DataConfig, aug: AugmentConfig, seed: int, length: int
    ) -> None:
        if not names:
            raise ValueError(f"{cache_dir}: no training videos (check data.dataset and the Split column)")
        self.cache_dir, self.names, self.data, self.aug, self.seed = Path(cache_dir), names, data, aug, seed
        self.length = length
        self.start = 0

    def __len__(self) -> int:
        return self.length

    def video_at(self, position: int) -> int:
        n = len(self.names)
        order = np.random.default_rng([self.seed, position // n]).permutation(n)
        return int(order[position % n])

    def __getitem__(self, j: int) -> dict:
        position = self.start + j
        rng = np.random.default_rng([self.seed, 1, position])
        video = np.load(self.cache_dir / f"{self.names[self.video_at(position)]}.npy", mmap_mode="r")
        span = self.data.frames * self.data.frame_step
        start = int(rng.integers(0, max(1, len(video) - span + 1)))
        clip = cut_clip(video, start, self.data.frames, self.data.frame_step)
        crop = random_crop(rng, clip.shape[1], clip.shape[2], self.aug)
        return {"clips": to_tensor(clip, self.data.resolution, crop), "position": position}


class EchoDataModule(L.LightningDataModule):
    """Pretraining clips over `data.root/data.dataset` (TRAIN split; every video when there is no Split).

    An epoch is `steps_per_epoch` global batches (the checkpoint interval)."""

    def __init__(
        self, data: DataConfig, aug: AugmentConfig, seed: int = 0, steps_per_epoch: int = 100,
        splits: tuple[str, ...] = ("TRAIN",),
    ) -> None:  # fmt: skip
        super().__init__()
        self.data, self.aug, self.seed, self.splits = data, aug, seed, splits
        self.steps_per_epoch = steps_per_epoch
        layout = DataLayout.from_data(data)
        self.dataset_dir, self.cache_dir, self.manifest = (
            layout.dataset_dir,
            layout.cache_dir,
            layout.manifest,
        )

    def prepare_data(self) -> None:
        build_clip_cache(self.dataset_dir, self.cache_dir, manifest=self.manifest)

    def setup(self, stage: str | None = None) -> None:
        table = pd.read_csv(self.manifest)
        if "Split" in table:
            table = table[table.Split.astype(str).str.upper().isin(self.splits)]
        world = self.trainer.world_size if self.trainer else 1
        length = self.steps_per_epoch * self.data.batch_size * world
        self.train = ClipDataset(self.cache_dir, list(table.FileName), self.data, self.aug, self.seed, length)

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size if self.trainer else 1
        step = self.trainer.global_step if self.trainer else 0
        self.train.start = step * self.data.batch_size * world
        # the stream is already shuffled; ranks take interleaved items (global sample i on rank i mod world)
        sampler = None
        if world > 1:
            sampler = DistributedSampler(
                self.train, world, self.trainer.global_rank, shuffle=False, drop_last=True
            )
        return DataLoader(
            self.train, batch_size=self.data.batch_size, sampler=sampler, shuffle=False, drop_last=True,
            num_workers=self.data.workers, persistent_workers=False,
        )  # fmt: skip
