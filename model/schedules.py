"""Training schedules as small pure functions of the step (tested on their own)."""

from __future__ import annotations

import math


def learning_rate(
    step: int, total: int, *, peak: float, warmup: int, final: float, start: float = 0.0
) -> float:
    """Linear warm-up from `start` to `peak` over `warmup` steps, then cosine decay to `final`.

    1. warm-up: the optimiser's moments are unreliable for the first steps, so the step size ramps up;
    2. cosine: most of the run near the peak, annealing at the end.
    """
    if step < warmup:
        return start + (peak - start) * step / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + 0.5 * (peak - final) * (1 + math.cos(math.pi * progress))


def weight_decay(step: int, total: int, *, start: float, end: float) -> float:
    """Cosine ramp of the weight decay from `start` to `end` (V-JEPA 1: 0.04 → 0.4)."""
    progress = min(1.0, step / max(1, total))
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * progress))


def ema_momentum(step: int, total: int, *, start: float, end: float) -> float:
    """Target-encoder momentum: linear ramp from `start` to `end` (a constant when they are equal).

    Short runs need the ramp: a constant 0.99925 moves the target only ~7 % in 100 steps."""
    return start + (end - start) * min(1.0, step / max(1, total))
