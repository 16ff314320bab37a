"""Schedules are pure functions of the step."""

from __future__ import annotations

from itertools import pairwise

import pytest

from model.schedules import ema_momentum, learning_rate, weight_decay


def test_learning_rate_warms_up_then_decays() -> None:
    lr = [learning_rate(s, 100, peak=1e-3, warmup=10, final=1e-5, start=0.0) for s in range(101)]
    assert lr[0] == 0.0 and lr[10] == pytest.approx(1e-3)
    assert all(a <= b for a, b in pairwise(lr[:11]))
    assert all(a >= b for a, b in pairwise(lr[10:]))
    assert lr[100] == pytest.approx(1e-5)


def test_weight_decay_and_ema_ramps() -> None:
    assert weight_decay(0, 50, start=0.04, end=0.4) == pytest.approx(0.04)
    assert weight_decay(50, 50, start=0.04, end=0.4) == pytest.approx(0.4)
    assert ema_momentum(0, 100, start=0.996, end=1.0) == pytest.approx(0.996)
    assert ema_momentum(50, 100, start=0.996, end=1.0) == pytest.approx(0.998)
    assert ema_momentum(7, 100, start=0.99925, end=0.99925) == pytest.approx(0.99925)
