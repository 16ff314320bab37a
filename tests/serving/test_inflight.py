"""The in-flight cap is exact across processes: slots are kernel file locks that a second worker sees
and that a killed worker gives back."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from serving.inflight import InFlightSlots


def _hold(folder: str, ready, release) -> None:
    slots = InFlightSlots(2, Path(folder))
    assert slots.acquire() is not None and slots.acquire() is not None
    ready.set()
    release.wait(30)


def test_slots_are_shared_between_processes_and_freed_by_a_dead_one(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    worker = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    worker.start()
    assert ready.wait(30)
    here = InFlightSlots(2, tmp_path)
    assert here.acquire() is None  # the other worker holds both slots
    worker.kill()  # no release: the kernel drops its locks with the process
    worker.join(10)
    first, second = here.acquire(), here.acquire()
    assert {first, second} == {0, 1} and here.acquire() is None and here.held == 2
    here.release(first)
    assert here.acquire() == first
    here.close()
