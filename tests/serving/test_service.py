"""The served model over HTTP (a real `echojepa serve` subprocess): answers, refusals, auth, docs."""

from __future__ import annotations

from pathlib import Path

import bentoml
import httpx
import numpy as np
import pytest

from serving.clips import encode_clip
from tests.packaged import PackagedModel
from tests.serving.bad_inputs import BadCase, make_bad_inputs
from tests.serving.conftest import KEY, Server, curl


@pytest.fixture(scope="module")
def client(server: Server) -> bentoml.SyncHTTPClient:
    with bentoml.SyncHTTPClient(server.url, token=KEY, server_ready_timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def bad_cases(packaged_model: PackagedModel, tmp_path_factory: pytest.TempPathFactory) -> list[BadCase]:
    return make_bad_inputs(tmp_path_factory.mktemp("bad"), packaged_model.clean[0])


def _counter(metrics: str, name: str, label: str) -> float:
    """Sum of the samples of `name` whose labels contain `label` ("" for an unlabelled counter)."""
    lines = [
        line for line in metrics.splitlines()
        if line.split("{")[0].split(" ")[0] == name and label in line
    ]  # fmt: skip
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def test_predict_with_the_bentoml_client(client, packaged_model: PackagedModel) -> None:
    result = client.predict(video=packaged_model.clean[1], study_id="12345", cohort="adult")
    result = result if isinstance(result, dict) else result.model_dump()
    assert 0.0 <= result["ef"] <= 100.0 and np.isfinite(result["ef"])
    probs = result["view_probabilities"]
    assert result["view"] in probs and result["view"] == max(probs, key=probs.get)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5) and len(probs) >= 2
    assert result["model_version"] == packaged_model.model_version
    assert result["clips"] == 2 and result["latency_ms"] > 0
    assert set(result["quality"]) == {"metrics", "degraded", "causes", "warnings"}
    assert result["quality"]["metrics"]["frame_count"] > 16 and len(result["request_id"]) == 32


def test_predict_with_curl_and_the_same_answer_in_process(server: Server, packaged_model) -> None:
    from dataclasses import replace

    from serving.predictor import Predictor

    video = packaged_model.clean[2]
    status, body = curl(server, "/predict", "-F", f"video=@{video}")
    assert status == 200, body
    settings = replace(packaged_model.settings(), clips_per_video=2)  # as the server's params say
    local = Predictor(packaged_model.model_dir, settings).predict(video.read_bytes())
    assert body["ef"] == pytest.approx(local["ef"], abs=1e-3) and body["view"] == local["view"]
    assert body["quality"]["metrics"] == pytest.approx(local["quality"]["metrics"])


@pytest.mark.parametrize("kind", ["gaussian_shadow", "depth_attenuation"])
def test_degraded_video_names_its_cause_and_distrusts_ef(server: Server, packaged_model, kind: str) -> None:
    status, body = curl(server, "/predict", "-F", f"video=@{packaged_model.perturbed[kind]}")
    assert status == 200, body
    quality = body["quality"]
    assert quality["degraded"] and quality["causes"][0] == kind
    assert quality["warnings"][0].startswith(f"{kind}: ")
    assert any("EF should not be trusted" in w for w in quality["warnings"])


def test_every_bad_input_gets_a_4xx_json_object(server: Server, bad_cases: list[BadCase]) -> None:
    seen = {}
    for case in bad_cases:
        args = ["-F", f"video=@{case.path}"] if case.path else ["-X", "POST"]
        status, body = curl(server, "/predict", *args)
        seen[case.name] = status
        assert status == case.status, (case.name, body)
        assert isinstance(body, dict) and set(body) == {"error"}, (case.name, body)
        assert isinstance(body["error"], str) and "\n" not in body["error"] and len(body["error"]) < 300
    assert all(400 <= s < 500 for s in seen.values()), seen
    metrics = httpx.get(server.url + "/metrics").text
    for case in bad_cases:
        assert _counter(metrics, "echojepa_bad_input_total", f'reason="{case.reason}"') >= 1, case.reason


def test_malformed_requests_are_refused_in_one_sentence(server: Server, packaged_model) -> None:
    video = packaged_model.clean[0]
    cases = [
        (["-F", "video=http://127.0.0.1:9/x.avi"], 400),  # text where the file goes: never fetched
        (["-F", f"video=@{video}", "-F", "cohort=kids"], 400),
        (["-F", f"video=@{video}", "-F", "patient=1"], 400),
        (["-H", "Content-Type: multipart/form-data; boundary=zz", "--data-binary", "junk"], 400),
        (["-H", "Content-Type: application/json", "-d", '{"video": "x"}'], 400),
    ]
    for args, expected in cases:
        status, body = curl(server, "/predict", *args)
        assert status == expected and set(body) == {"error"}, (args, body)
    status, body = curl(
        server, "/encode_clips", "-H", "Content-Type: application/json", "-d", '{"clips": ["!"]}'
    )
    assert status == 400 and "base64" in body["error"]


def test_bentoml_client_sees_the_refusal_status(client, bad_cases: list[BadCase]) -> None:
    grey = next(c for c in bad_cases if c.name == "constant_grey")
    with pytest.raises(bentoml.exceptions.BentoMLException) as info:
        client.predict(video=grey.path)
    assert info.value.error_code.value == 422 and "blank" in str(info.value)


def test_api_key_is_required_on_the_api_only(server: Server, packaged_model) -> None:
    video = f"video=@{packaged_model.clean[0]}"
    for key in (None, "wrong-key"):
        status, body = curl(server, "/predict", "-F", video, key=key)
        assert status == 401 and "API key" in body["error"]
    status, _ = curl(server, "/predict", "-F", video, "-H", f"X-API-Key: {KEY}", key=None)
    assert status == 200
    for path in ("/healthz", "/readyz", "/metrics", "/docs.json"):
        assert httpx.get(server.url + path).status_code == 200, path
    assert _counter(httpx.get(server.url + "/metrics").text, "echojepa_unauthorized_total", "") >= 2


def test_embed_and_the_clip_endpoint(server: Server, packaged_model) -> None:
    video = packaged_model.clean[0]
    status, body = curl(server, "/embed", "-F", f"video=@{video}")
    assert status == 200 and body["clips"] == 2 and len(body["embedding"]) == 96
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["model_version"] == packaged_model.model_version and ready["clip_shape"] == [16, 112, 112]
    clips = np.random.default_rng(0).integers(0, 255, (3, *ready["clip_shape"]), dtype=np.uint8)
    response = httpx.post(
        server.url + "/encode_clips",
        json={"clips": [encode_clip(c) for c in clips]},
        headers=server.headers(),
    )
    rows = response.json()
    assert response.status_code == 200 and len(rows) == 3
    assert all(
        len(r["view_probabilities"]) == len(ready["views"]) and len(r["embedding"]) == 96 for r in rows
    )


def test_docs_and_openapi(server: Server) -> None:
    assert httpx.get(server.url + "/docs", follow_redirects=True).status_code == 200
    paths = httpx.get(server.url + "/docs.json").json()["paths"]
    assert {"/predict", "/embed", "/encode_clips"} <= set(paths)


def test_metrics_count_predictions_and_warnings(server: Server, packaged_model) -> None:
    curl(server, "/predict", "-F", f"video=@{packaged_model.perturbed['gaussian_shadow']}")
    metrics = httpx.get(server.url + "/metrics").text
    assert _counter(metrics, "echojepa_predictions_total", 'endpoint="predict"') >= 1
    assert _counter(metrics, "echojepa_warnings_total", 'kind="gaussian_shadow"') >= 1
    assert 'echojepa_warnings_total{kind="blur"}' in metrics  # every kind is there from the start
    assert "bentoml_service_adaptive_batch_size_count" in metrics
    assert 'bentoml_service_request_total{endpoint="/predict",http_response_code="422"' in metrics


def test_retained_clip_is_deidentified(server: Server, packaged_model, tmp_path: Path) -> None:
    from ultrasound.video_io import is_dicom, read_video

    status, body = curl(
        server, "/predict", "-F", f"video=@{packaged_model.clean[0]}", "-F", "study_id=MRN-77"
    )
    assert status == 200
    clips = list((server.production_log / "clips").glob(f"date=*/{body['request_id']}.avi"))
    assert len(clips) == 1
    data = clips[0].read_bytes()
    assert not is_dicom(data) and b"MRN-77" not in data
    frames = read_video(clips[0]).frames
    assert frames.shape[1:] == (112, 112) and frames.shape[0] == body["quality"]["metrics"]["frame_count"]


def test_retained_clip_has_no_readable_burned_in_name(
    server: Server, packaged_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import burned_in
    from serving.records import retain_clip
    from tests.ocr import NAME, name_in_frames, read_text, reads_name, tesseract, with_name_small
    from ultrasound.video_io import read_video, write_avi

    tesseract()
    video = read_video(packaged_model.clean[0])
    upload = write_avi(tmp_path / "named.avi", with_name_small(video.frames), video.fps)
    status, body = curl(server, "/predict", "-F", f"video=@{upload}")
    assert status == 200
    kept = next((server.production_log / "clips").glob(f"date=*/{body['request_id']}.avi"))
    clip = read_video(kept).frames
    exact, near = name_in_frames(clip)
    assert NAME.encode() not in kept.read_bytes() and exact == 0 and near <= 1, (exact, near)
    # positive control: the service's clip-keeping function with the pixel cleaning off reads the name
    monkeypatch.setattr(burned_in, "clean_sector", lambda frames, sector: (frames, 0))
    control = retain_clip(read_video(upload).frames, tmp_path / "control", "control", "2026-01-01")
    assert reads_name(read_text(read_video(control).frames[0]))
    assert name_in_frames(read_video(control).frames)[1] >= 2  # the leak the bound above would catch
