"""`echojepa serve` (the server fixture starts every served test through it); a bad setting fails fast."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from flows.cli import main
from tests.packaged import PackagedModel, write_params


def test_a_mistyped_setting_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = write_params(tmp_path / "params.yaml", serving={"max_upload": 3})
    with pytest.raises(SystemExit) as info:
        main(["serve", "--params", str(params)])
    err = capsys.readouterr().err
    assert info.value.code == 1 and err.count("\n") == 1
    assert "serving.max_upload: unknown key" in err


def test_a_second_server_on_the_same_store_keeps_the_first_ones_counters(
    server, packaged_model: PackagedModel, tmp_path: Path
) -> None:
    """BentoML empties one shared Prometheus folder whenever a server starts; each `echojepa serve` has its
    own, so another service on the same model store does not wipe a running one's /metrics."""
    from tests.serving.conftest import curl, start_server, stop_server

    def empty_refusals() -> float:
        text = httpx.get(server.url + "/metrics", timeout=30).text
        line = next(x for x in text.splitlines() if x.startswith('echojepa_bad_input_total{reason="empty"'))
        return float(line.rsplit(" ", 1)[1])

    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    before = empty_refusals()
    assert curl(server, "/predict", "-F", f"video=@{empty}")[0] == 400
    assert empty_refusals() == before + 1  # control: the counter counts
    other = start_server(packaged_model, packaged_model.params, tmp_path / "other.log")
    try:
        assert empty_refusals() == before + 1  # still there after the second server's start
    finally:
        stop_server(other)
