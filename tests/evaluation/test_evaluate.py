"""One tiny end-to-end evaluation: an encoder on 24 simulated adult studies (+ 10 pediatric), read
through a validated manifest with two unlabelled rows; then token-cache reuse and a zero-step candidate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from evaluation.config import EvaluationConfig
from evaluation.evaluate import evaluate_candidate
from evaluation.gates import GATE_NAMES
from evaluation.model_card import write_report
from evaluation.tokens import reusable_tokens
from model.config import ProbeConfig, load_config
from model.embed import write_embeddings
from model.jepa import build_encoder
from ultrasound.dataset import simulate_dataset

KINDS, SEVERITIES = ("depth_attenuation", "gaussian_shadow"), ("low", "medium", "high")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("evaluation")
    raw = root / "raw"
    simulate_dataset(raw / "adult", 24, seed=4, cohort="adult", workers=2)  # 11 TEST, two with EF < 40
    simulate_dataset(raw / "kids", 10, seed=5, cohort="pediatric", workers=2)
    # the validated manifest (what manifest_path reads) with one TRAIN and one TEST study unlabelled
    manifest = pd.read_csv(raw / "adult" / "FileList.csv")
    for split in ("TRAIN", "TEST"):
        manifest.loc[manifest.index[manifest.Split == split][0], "EF"] = np.nan
    (root / "validated" / "adult").mkdir(parents=True)
    manifest.to_csv(root / "validated" / "adult" / "FileList.csv", index=False)
    config = load_config(
        "params.yaml",
        {
            "data.root": str(raw), "data.dataset": "adult", "data.cache": str(root / "cache"),
            "data.validated": str(root / "validated"), "data.frames": 8, "data.resolution": 64,
        },
    )  # fmt: skip
    # the candidate: an encoder unlike the random-init baseline (another seed), without Lightning's start-up
    torch.manual_seed(1)
    (root / "model").mkdir()
    torch.save(build_encoder(config).state_dict(), root / "model" / "encoder.pt")
    eval_config = EvaluationConfig(pediatric_dataset="kids", probe_seeds=(0, 1))
    probe_config = ProbeConfig(epochs=2)
    phases: list[str] = []
    report = evaluate_candidate(
        config, root / "model" / "encoder.pt", eval_config=eval_config, probe_config=probe_config,
        data_version="data-1", model_version="jepa-test",
        baseline_embeddings_dir=root / "embeddings" / "random-init",
        on_progress=lambda phase, done, total: phases.append(phase),
    )  # fmt: skip
    return {
        "root": root, "config": config, "manifest": manifest, "report": report, "phases": phases,
        "eval_config": eval_config, "probe_config": probe_config,
    }  # fmt: skip


def test_the_report_has_the_interface_schema(setup: dict) -> None:
    report = setup["report"]
    assert {"metrics", "baselines", "subgroups", "gates", "data_version", "model_version"} <= set(report)
    assert (report["data_version"], report["model_version"]) == ("data-1", "jepa-test")
    assert [g["name"] for g in report["gates"]] == list(GATE_NAMES)
    assert all(set(g) >= {"name", "value", "threshold", "passed"} for g in report["gates"])
    json.dumps(report, allow_nan=False)  # plain JSON types, all finite
    phases = {"embed", "probes", "baseline", "robustness", "pediatric", "total"}
    assert set(report["timing"]["wall_s"]) == set(report["timing"]["cpu_s"]) == phases
    assert {"embed", "embed_random_init", "pediatric"} <= set(setup["phases"])


def test_metrics_are_finite_and_unlabelled_studies_are_excluded(setup: dict) -> None:
    metrics, manifest = setup["report"]["metrics"], setup["manifest"]
    test = manifest[manifest.Split == "TEST"]
    assert metrics["n_test"] == len(test) and metrics["n_test_labelled"] == len(test) - 1
    for key in ("ef_mae", "ef_rmse", "ef_r2", "view_accuracy", "view_macro_f1"):
        assert np.isfinite(metrics[key]["mean"]) and metrics[key]["std"] >= 0
    assert 0 <= metrics["view_accuracy"]["mean"] <= 1
    assert set(metrics["label_efficiency"]["view_accuracy"]) == {"0.01", "1"}
    predicted = setup["report"]["predictions"]["ef"]
    assert predicted["FileName"] == test.FileName[test.EF.notna()].tolist()
    assert setup["report"]["predictions"]["view"]["FileName"] == test.FileName.tolist()  # views need no EF
    mean_mae = np.abs(np.array(predicted["predicted"]) - np.array(predicted["actual"])).mean()
    assert (
        mean_mae <= metrics["ef_mae"]["mean"] + 1e-6
    )  # the seed-averaged prediction is never worse (convexity)


def test_baselines_random_init_and_the_train_mean(setup: dict) -> None:
    baselines, manifest = setup["report"]["baselines"], setup["manifest"]
    train_mean = manifest.EF[(manifest.Split == "TRAIN") & manifest.EF.notna()].mean()
    test_ef = manifest.EF[(manifest.Split == "TEST") & manifest.EF.notna()].to_numpy()
    assert baselines["mean_predictor"]["train_mean"] == pytest.approx(train_mean)
    assert baselines["mean_predictor"]["ef_mae"] == pytest.approx(np.abs(test_ef - train_mean).mean())
    assert np.isfinite(baselines["random_init"]["ef_mae"]["mean"])
    assert np.isfinite(baselines["random_init"]["view_accuracy"]["mean"])
    # the random-init tokens were cached for the next evaluation
    cache = setup["root"] / "embeddings" / "random-init"
    assert (cache / "key.json").is_file() and (cache / "results.json").is_file()


def test_robustness_covers_every_kind_and_severity_relative_to_clean(setup: dict) -> None:
    report = setup["report"]
    robustness = report["robustness"]
    assert [(r["kind"], r["severity"]) for r in robustness["settings"]] == [
        (k, s) for k in KINDS for s in SEVERITIES
    ]
    clean = report["metrics"]["ef_mae"]["mean"]
    assert robustness["clean_ef_mae"] == pytest.approx(clean)
    increases = [r["ef_mae"] / clean - 1 for r in robustness["settings"]]
    assert [r["relative_increase"] for r in robustness["settings"]] == pytest.approx(increases)
    assert report["metrics"]["robustness_mean_increase"] == pytest.approx(np.mean(increases))
    assert report["metrics"]["robustness_worst_increase"] == pytest.approx(max(increases))
    assert any(abs(x) > 0 for x in increases)  # the perturbations reach the encoder


def test_pediatric_and_subgroups(setup: dict) -> None:
    report, manifest = setup["report"], setup["manifest"]
    pediatric = report["pediatric"]
    assert (
        pediatric["dataset"] == "kids" and pediatric["n"] == 10 and np.isfinite(pediatric["ef_mae"]["mean"])
    )
    assert report["metrics"]["pediatric_ef_mae"] == pediatric["ef_mae"]
    test = manifest[(manifest.Split == "TEST") & manifest.EF.notna()]
    reduced = report["subgroups"]["reduced_ef"]
    assert reduced["n"] == int((test.EF < 40).sum()) >= 1 and reduced["n_total"] == len(test)
    assert np.isfinite(reduced["ef_mae"]["mean"]) and 0 <= reduced["auroc"]["mean"] <= 1
    devices = report["subgroups"]["device"]
    assert set(devices) == set(test.Device) and sum(d["n"] for d in devices.values()) == len(test)
    assert set(report["subgroups"]["cohort"]) == {"adult"}


def test_the_report_and_card_are_written(setup: dict, tmp_path: Path) -> None:
    json_path, html_path = write_report(setup["report"], tmp_path)
    assert json.loads(json_path.read_text())["gates"] == setup["report"]["gates"]
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 5  # scatter, Bland–Altman, confusion, robustness, labels
    assert all(name in page for name in GATE_NAMES)


def test_cached_tokens_are_reused_and_a_zero_step_candidate_fails_the_margin(
    setup: dict, tmp_path: Path
) -> None:
    config, root = setup["config"], setup["root"]
    fast = EvaluationConfig(
        robustness_kinds=(), pediatric_dataset=None, probe_seeds=(0,), view_fractions=(1.0,)
    )
    # the random-init tokens cached by the first evaluation serve as the zero-step candidate's tokens
    report = evaluate_candidate(
        config, None, eval_config=fast, probe_config=setup["probe_config"],
        embeddings_dir=root / "embeddings" / "random-init",
    )  # fmt: skip
    assert report["embeddings"]["candidate"].startswith("reused")
    gates = {g["name"]: g for g in report["gates"]}
    assert (
        gates["ef_mae_margin_over_random_init"]["value"] == 0
        and not gates["ef_mae_margin_over_random_init"]["passed"]
    )
    assert (
        report["pediatric"] == "n/a (evaluate.pediatric_dataset is null)"
        and gates["pediatric_ef_mae"]["passed"]
    )
    assert report["robustness"]["settings"] == [] and gates["robustness_mean_increase"]["passed"]

    # a cache of other studies, or of another encoder shape, is not reused
    tokens = np.load(root / "embeddings" / "random-init" / "tokens.npy")
    encoder = build_encoder(config)
    write_embeddings(tokens[:5], setup["manifest"].head(5), tmp_path / "other")
    assert "other studies" in reusable_tokens(tmp_path / "other", setup["manifest"], encoder, 3)
    write_embeddings(tokens[:, :2], setup["manifest"], tmp_path / "two-clips")
    assert "do not match" in reusable_tokens(tmp_path / "two-clips", setup["manifest"], encoder, 3)


def test_the_random_init_baseline_is_cached_across_evaluations(setup: dict) -> None:
    config, root = setup["config"], setup["root"]
    fast = EvaluationConfig(robustness_kinds=(), pediatric_dataset=None, probe_seeds=(0,))
    folder = root / "embeddings" / "random-init"

    def run() -> dict:
        return evaluate_candidate(
            config, root / "model" / "encoder.pt", eval_config=fast, probe_config=setup["probe_config"],
            baseline_embeddings_dir=folder,
        )  # fmt: skip

    first, second = run(), run()  # another probe protocol than the fixture's: tokens reused, probes refit
    assert first["embeddings"]["random_init"] == f"reused {folder}"
    assert second["embeddings"]["random_init"] == f"reused {folder} (tokens and probe results)"
    assert second["baselines"] == first["baselines"]
    assert (
        first["baselines"]["random_init"]["ef_mae"] != setup["report"]["baselines"]["random_init"]["ef_mae"]
    )
