"""A service started before any model is released: it runs, says how to release one, and serves the
model as soon as the ledger names one (no restart)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from serving.errors import NO_MODEL
from tests.packaged import PackagedModel, release_run, write_params
from tests.serving.conftest import Server, curl, start_server, stop_server, wait_for


@pytest.fixture(scope="module")
def empty_server(packaged_model: PackagedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("no-model")
    params = write_params(
        root / "params.yaml",
        base=packaged_model.params,
        release={"ledger": str(root / "registry" / "ledger.jsonl"), "witness_dir": str(root / "witness")},
        serving={"production_log": str(root / "production"), "reload_seconds": 1, "feast_push": "off"},
    )
    running = start_server(
        packaged_model, params, root / "server.log", {"BENTOML_HOME": str(root / "bentoml")}
    )
    yield running
    stop_server(running)


def test_starts_without_a_model_and_says_how_to_release_one(empty_server: Server, packaged_model) -> None:
    assert httpx.get(empty_server.url + "/healthz").status_code == 200
    ready = httpx.get(empty_server.url + "/readyz")
    assert ready.status_code == 503 and ready.json() == {"error": NO_MODEL}
    assert "echojepa release approve" in NO_MODEL and "\n" not in NO_MODEL
    status, body = curl(empty_server, "/predict", "-F", f"video=@{packaged_model.clean[0]}")
    assert (status, body) == (503, {"error": NO_MODEL})
    status, body = curl(empty_server, "/encode_clips", "-H", "Content-Type: application/json", "-d", "{}")
    assert (status, body) == (503, {"error": NO_MODEL})


def test_a_model_released_later_is_served_without_restart(empty_server: Server, packaged_model) -> None:
    import pandas as pd

    home = empty_server.params.parent / "bentoml"
    reference = pd.DataFrame({"ef": [50.0]})
    release_run(empty_server.params, home, packaged_model.run_dir, "v-late", reference)
    ready = wait_for(empty_server.url, "/readyz", 200, timeout=60, process=empty_server.process)
    assert ready.json()["model_version"] == "v-late"
    status, body = curl(empty_server, "/predict", "-F", f"video=@{packaged_model.clean[0]}")
    assert status == 200 and body["model_version"] == "v-late"
