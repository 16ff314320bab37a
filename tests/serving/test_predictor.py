"""The in-process prediction path (serving.predictor): numbers, clips, limits, production resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serving.errors import NO_MODEL, BadInput, ModelUnavailable
from serving.inputs import InputLimits
from serving.predictor import Predictor
from tests.packaged import PackagedModel, bento_store, release_run, write_params
from ultrasound.perturbations import PERTURBATION_KINDS


@pytest.fixture(scope="module")
def predictor(packaged_model: PackagedModel) -> Predictor:
    return Predictor(
        packaged_model.model_dir, packaged_model.settings(), model_version=packaged_model.model_version
    )


def test_predict_averages_clips_of_a_real_model(predictor: Predictor, packaged_model: PackagedModel) -> None:
    video = packaged_model.clean[0]
    result = predictor.predict(video.read_bytes(), video.name)
    assert 0.0 <= result["ef"] <= 100.0 and result["clips"] == 3
    assert set(result["view_probabilities"]) == set(predictor.views) and result["view"] in predictor.views
    assert sum(result["view_probabilities"].values()) == pytest.approx(1.0)
    prepared = predictor.prepare(video.read_bytes())
    assert prepared.clips.shape == (3, 16, 112, 112) and prepared.clips.dtype == np.uint8
    outputs = predictor.encode(prepared.clips)
    assert result["ef"] == pytest.approx(float(outputs.ef.mean()), abs=1e-4)  # the mean of the clips' EF
    embedding = predictor.embed(video.read_bytes())
    assert embedding.shape == (96,) and np.allclose(embedding, result["embedding"], atol=1e-5)
    tokens = predictor.forward(prepared.clips)
    assert np.allclose(embedding, tokens.mean(dim=(0, 1)).numpy(), atol=1e-5)  # pooled over clips and tokens


@pytest.mark.parametrize("kind", PERTURBATION_KINDS)
def test_high_severity_perturbations_are_flagged(predictor: Predictor, packaged_model, kind: str) -> None:
    from serving.inputs import measure_quality, quality_report

    metrics, verdict = measure_quality(predictor.decode(packaged_model.perturbed[kind].read_bytes()))
    report = quality_report(metrics, verdict)
    assert verdict.degraded and report["degraded"] and report["causes"] == list(verdict.causes)
    assert report["warnings"][-1].startswith("EF should not be trusted on this video")
    if kind in ("depth_attenuation", "gaussian_shadow", "sector_dropout"):  # named reliably on this sample
        assert verdict.causes[0] == kind


def test_clips_resize_other_frame_sizes(predictor: Predictor) -> None:
    from ultrasound.video_io import Video

    rng = np.random.default_rng(0)
    clips = predictor.clips(Video(rng.integers(0, 255, (40, 80, 100), dtype=np.uint8), 30.0))
    assert clips.shape == (3, 16, 112, 112) and clips.dtype == np.uint8
    with pytest.raises(BadInput, match="clips must be"):
        predictor.forward(np.zeros((1, 8, 112, 112), np.uint8))


def test_limits_refuse_with_status_and_reason(packaged_model: PackagedModel) -> None:
    data = packaged_model.clean[0].read_bytes()
    cases = {
        InputLimits(max_upload_bytes=1000): (413, "too_large"),
        InputLimits(max_frames=50): (413, "too_many_frames"),
        InputLimits(max_frame_pixels=100 * 100): (413, "frame_too_large"),
        InputLimits(min_frames=500): (422, "too_short"),
    }
    for limits, (status, reason) in cases.items():
        strict = Predictor(packaged_model.model_dir, packaged_model.settings(), limits=limits)
        with pytest.raises(BadInput) as info:
            strict.decode(data)
        assert (info.value.status, info.value.reason) == (status, reason), limits


def test_from_production_follows_the_ledger(packaged_model: PackagedModel, tmp_path: Path) -> None:
    with bento_store(packaged_model.bento_home):
        loaded = Predictor.from_production(packaged_model.params)
        assert loaded.model_version == packaged_model.model_version
        assert (
            loaded.clips_per_video == packaged_model.settings().clips_per_video == 3
        )  # probe.clips_per_video
        empty = write_params(
            tmp_path / "p.yaml", base=packaged_model.params, release={"ledger": str(tmp_path / "l")}
        )
        with pytest.raises(ModelUnavailable) as info:
            Predictor.from_production(empty)
    assert info.value.message == NO_MODEL and info.value.status == 503 and "\n" not in NO_MODEL


def test_files_changed_after_release_are_not_served(packaged_model: PackagedModel, tmp_path: Path) -> None:
    import bentoml
    import pandas as pd

    params = write_params(
        tmp_path / "p.yaml", base=packaged_model.params,
        release={"ledger": str(tmp_path / "registry" / "ledger.jsonl"), "witness_dir": str(tmp_path / "w")},
    )  # fmt: skip
    home = tmp_path / "bentoml"
    tag = release_run(params, home, packaged_model.run_dir, "v-tampered", pd.DataFrame({"ef": [50.0]}))
    with bento_store(home):
        assert Predictor.from_production(params).model_version == "v-tampered"
        probe = Path(bentoml.models.get(tag).path) / "probes" / "ef" / "seed-0.pt"
        probe.write_bytes(probe.read_bytes() + b"\0")
        with pytest.raises(
            ModelUnavailable, match=r"probes/ef/seed-0.pt differs from the registered manifest"
        ):
            Predictor.from_production(params)


def test_a_single_view_model_serves_ef_and_says_why_there_is_no_view(packaged_model, tmp_path: Path) -> None:
    import json
    import shutil

    model = tmp_path / "model"
    shutil.copytree(packaged_model.model_dir, model)
    shutil.rmtree(model / "probes" / "view")  # the probe stage fitted none: one view in the data
    reason = "fewer than two views (A4C)"
    (model / "evaluation.json").write_text(json.dumps({"tasks": {"view": {"value": None, "reason": reason}}}))
    predictor = Predictor(model, packaged_model.settings(), model_version="single-view")
    result = predictor.predict(packaged_model.clean[0].read_bytes())
    assert 0.0 <= result["ef"] <= 100.0 and result["view"] is None and result["view_probabilities"] == {}
    assert result["view_reason"] == f"this model has no view probe: {reason}"
    assert set(predictor.heads) == {"ef"} and predictor.probe_files == {
        "ef/seed-0.pt": predictor.heads["ef"].members[0].sha256
    }
    shutil.rmtree(model / "probes" / "ef")  # EF is required: a clear one-line refusal, no model-store advice
    with pytest.raises(ValueError, match=r"probes/ef: no probe files .*`echojepa probe`") as info:
        Predictor(model, packaged_model.settings())
    assert "\n" not in str(info.value) and "bentoml" not in str(info.value).lower()
