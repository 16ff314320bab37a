"""The service's model load against a real signed ledger, its file witness and a real BentoML store: a
deleted ledger line or a file changed in the model store is refused with the verifier's one line, and a
running service keeps serving the last production model it verified.

Promote v1, promote v2, roll back to v1 (a reviewer signs, another person applies), delete the rollback
line: the chain alone still verifies (a prefix of a chain is a chain), the witness names the deleted line.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from release.decisions import sign_decision
from release.ledger import open_ledger
from release.package import rollback
from serving.config import load_serving_settings
from serving.guard import STARTING
from serving.runtime import ServingRuntime
from tests.packaged import PackagedModel, bento_store, release_run, signing_keys, write_params
from tests.serving.conftest import start_server, stop_server, wait_for

REFERENCE = pd.DataFrame({"ef": [50.0]})


@pytest.fixture
def params(packaged_model: PackagedModel, tmp_path: Path) -> Path:
    """A params file of its own ledger (witnessed in tmp/witness), store and production log."""
    return write_params(
        tmp_path / "params.yaml",
        base=packaged_model.params,
        release={"ledger": str(tmp_path / "registry" / "ledger.jsonl"), "witness_dir": str(tmp_path / "w")},
        serving={"production_log": str(tmp_path / "production"), "reload_seconds": 0, "feast_push": "off"},
    )


def runtime(params: Path) -> ServingRuntime:
    return ServingRuntime(load_serving_settings(params))


def test_a_deleted_rollback_line_is_named_and_serving_keeps_v1(packaged_model, params: Path) -> None:
    home = params.parent / "bentoml"
    v1 = release_run(params, home, packaged_model.run_dir, "v1", REFERENCE)
    release_run(params, home, packaged_model.run_dir, "v2", REFERENCE)
    settings = load_serving_settings(params)
    keys = signing_keys(settings.ledger.parent / "test-keys")
    with bento_store(home):
        ledger = open_ledger(settings.release)
        decision = sign_decision(ledger, keys["bob"], "rollback", reason="EF drift in production")
        assert rollback(ledger, decision, signer=keys["alice"]) == "v1"
        service = runtime(params)
        try:
            assert (service.tag, service.predictor.model_version) == (v1, "v1")
            lines = ledger.path.read_bytes().splitlines(keepends=True)
            ledger.path.write_bytes(b"".join(lines[:-1]))  # v2 is production again, by the chain alone
            result = ledger.verify()
            assert (result.ok, result.line) == (
                False,
                len(lines),
            ) and f"line {len(lines)} deleted" in result.reason
            assert not service.load()  # the reload that the moved production tag triggers
            assert (service.tag, service.predictor.model_version) == (v1, "v1")  # keeps the verified v1
            assert f"line {len(lines)} deleted" in service.refused and "\n" not in service.refused
        finally:
            service.close()
        fresh = runtime(params)  # a restart serves nothing it cannot verify
        try:
            assert fresh.predictor is None and f"line {len(lines)} deleted" in fresh.unavailable_reason
        finally:
            fresh.close()


def test_a_file_changed_in_the_model_store_is_refused_with_503(packaged_model, params: Path) -> None:
    import bentoml

    home = params.parent / "bentoml"
    tag = release_run(params, home, packaged_model.run_dir, "v1", REFERENCE)
    with bento_store(home):
        config = Path(bentoml.models.get(tag).path) / "config.yaml"
    config.write_text(config.read_text() + "# edited in the store\n")
    server = start_server(packaged_model, params, params.parent / "server.log", {"BENTOML_HOME": str(home)})
    try:
        reason = STARTING
        deadline = time.monotonic() + 60
        while reason == STARTING and time.monotonic() < deadline:  # the worker builds its runtime first
            reason = wait_for(server.url, "/readyz", 503, timeout=60, process=server.process).json()["error"]
            time.sleep(0.25)
        assert "config.yaml differs from the registered manifest" in reason and "refusing to serve" in reason
        video = packaged_model.clean[0]
        answer = httpx.post(server.url + "/predict", files={"video": video.read_bytes()}, timeout=30)
        assert answer.status_code == 503 and answer.json() == {"error": reason}
    finally:
        stop_server(server)
