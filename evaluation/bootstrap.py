"""Paired bootstrap confidence intervals over TEST videos: the uncertainty of a comparison between two models
scored on the same videos. Probe seeds only measure the probe's own noise; with ~50 TEST videos the standard
error of an MAE is about 0.6 EF points, far wider than the spread over seeds, so a claim ("A has a lower
EF MAE than B") is reproduced only when the 95 % interval of the paired difference excludes zero.

Resampling videos (not clips, not seeds) with replacement, the same draw for both models, keeps the pairing:
a hard video is hard for both, which is what makes paired intervals narrower than two separate ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DRAWS = 2000


@dataclass(frozen=True)
class PairedInterval:
    """mean(a) - mean(b) over the shared videos, with its percentile bootstrap interval."""

    difference: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_json(self) -> dict[str, float | int]:
        return {"difference": self.difference, "low": self.low, "high": self.high, "n": self.n,
                "level": self.level}  # fmt: skip

    def __str__(self) -> str:
        return f"{self.difference:+.2f} [{self.low:+.2f}, {self.high:+.2f}] (95 % CI, {self.n} videos)"


def paired_interval(
    a: np.ndarray, b: np.ndarray, draws: int = DRAWS, level: float = 0.95, seed: int = 0
) -> PairedInterval:
    """The paired bootstrap interval of mean(a) - mean(b), a and b per-video values (e.g. absolute EF
    errors of two models on the same TEST videos, in the same order).

    Raises:
        ValueError: different lengths, or fewer than 2 videos (no interval can be drawn from one).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of one length, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 paired videos, got {len(a)}")
    diff = a - b
    picks = np.random.default_rng(seed).integers(0, len(diff), size=(draws, len(diff)))
    means = diff[picks].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return PairedInterval(float(diff.mean()), float(low), float(high), len(diff), level)


def paired_errors(first: dict, second: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Absolute errors of two models' per-video predictions ({FileName, true, predicted} lists, as the seed
    table stores them) on the videos both scored, in one order; None when they share fewer than 2."""
    left = {
        n: abs(p - t) for n, t, p in zip(first["FileName"], first["true"], first["predicted"], strict=True)
    }
    right = {
        n: abs(p - t) for n, t, p in zip(second["FileName"], second["true"], second["predicted"], strict=True)
    }
    shared = sorted(left.keys() & right.keys())
    if len(shared) < 2:
        return None
    return np.array([left[n] for n in shared]), np.array([right[n] for n in shared])
