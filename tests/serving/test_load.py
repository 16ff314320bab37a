"""A bounded load test: 16 concurrent clients, 500 requests mixing valid and invalid uploads; every answer
must be the expected one (no 5xx, nothing unexpected), concurrent requests must share forward passes, and
the service must be healthy afterwards."""

from __future__ import annotations

import asyncio
import collections
import random
import time

import httpx
import pytest

from tests.packaged import PackagedModel
from tests.serving.bad_inputs import make_bad_inputs
from tests.serving.conftest import KEY, Server

CLIENTS = 16
REQUESTS = 500
VALID_SHARE = 0.3


def _plan(packaged_model: PackagedModel, bad_dir) -> list[tuple[str, dict, dict, int]]:
    """(route, files, form fields, expected status) per request, seeded."""
    bad = [c for c in make_bad_inputs(bad_dir, packaged_model.clean[0]) if c.name != "too_large_file"]
    rng = random.Random(0)
    plan = []
    for _ in range(REQUESTS):
        roll = rng.random()
        if roll < VALID_SHARE:
            video = rng.choice((*packaged_model.clean, packaged_model.perturbed["gain_drift"]))
            plan.append(("/predict", {"video": video}, {"study_id": f"S{rng.randrange(99)}"}, 200))
        elif roll < VALID_SHARE + 0.05:
            plan.append(("/embed", {"video": packaged_model.clean[0]}, {}, 200))
        elif roll < VALID_SHARE + 0.1:
            plan.append(("/predict", {"video": packaged_model.clean[1]}, {"cohort": "neonate"}, 400))
        else:
            case = rng.choice(bad)
            plan.append(("/predict", {"video": case.path} if case.path else {}, {}, case.status))
    return plan


async def _run(server: Server, plan) -> tuple[collections.Counter, list]:
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    outcomes: collections.Counter = collections.Counter()
    unexpected = []

    async def client() -> None:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120
        ) as c:
            while not queue.empty():
                route, files, data, expected = queue.get_nowait()
                upload = {k: (p.name, p.read_bytes()) for k, p in files.items()}
                response = await c.post(route, files=upload or None, data=data or None)
                outcomes[response.status_code] += 1
                body = response.json()
                if response.status_code != expected or (expected != 200 and set(body) != {"error"}):
                    unexpected.append((route, expected, response.status_code, response.text[:200]))

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return outcomes, unexpected


def _batches(metrics: str) -> tuple[float, float]:
    """(batches, batches of one job) of the clip endpoint, from the adaptive batch size histogram."""
    count = single = 0.0
    for line in metrics.splitlines():
        if line.startswith("bentoml_service_adaptive_batch_size_count") and "encode_clips" in line:
            count += float(line.rsplit(" ", 1)[1])
        if (
            line.startswith("bentoml_service_adaptive_batch_size_bucket")
            and 'le="1.0"' in line
            and "encode_clips" in line
        ):
            single += float(line.rsplit(" ", 1)[1])
    return count, single


@pytest.mark.timeout(600)
def test_load_mixed_uploads(server: Server, packaged_model: PackagedModel, tmp_path) -> None:
    plan = _plan(packaged_model, tmp_path / "bad")
    before = _batches(httpx.get(server.url + "/metrics").text)
    started = time.perf_counter()
    outcomes, unexpected = asyncio.run(_run(server, plan))
    elapsed = time.perf_counter() - started
    assert sum(outcomes.values()) == REQUESTS
    assert not [s for s in outcomes if s >= 500], outcomes
    assert unexpected == [], unexpected[:5]
    assert outcomes[200] >= 0.3 * REQUESTS
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert httpx.get(server.url + "/readyz").status_code == 200
    after = _batches(httpx.get(server.url + "/metrics").text)
    batches, singles = after[0] - before[0], after[1] - before[1]
    assert batches < outcomes[200], (batches, outcomes)  # fewer forward passes than answered videos
    assert singles < batches, (singles, batches)  # some batches held several requests' clips
    print(f"load: {REQUESTS} requests in {elapsed:.1f} s, {dict(outcomes)}, {batches:.0f} batches")
