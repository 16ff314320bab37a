"""One tiny end-to-end evaluation through the run layout: an encoder on 24 simulated adult studies (+ 10
pediatric), read through a validated manifest with two unlabelled rows, embedded, probed by the probe
stage (the served ensemble of two seeds) and evaluated; then token-cache reuse and a zero-step candidate."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from config.params import Params, load_params
from evaluation.baselines import token_key
from evaluation.evaluate import evaluate_candidate
from evaluation.gates import GATE_NAMES
from evaluation.model_card import write_report
from evaluation.probe_protocol import manifest_frame
from evaluation.probe_stage import run_probe_stage
from evaluation.report_schema import check_report
from evaluation.tokens import clean_tokens, reusable_tokens
from model.collapse import effective_rank, held_out_clips
from model.embed import embed_videos, load_encoder, write_embeddings
from model.jepa import build_encoder
from release.ledger import sha256_file
from tests.packaged import REPO
from ultrasound.dataset import simulate_dataset

KINDS, SEVERITIES = ("depth_attenuation", "gaussian_shadow"), ("low", "medium", "high")


@contextmanager
def inside(folder: Path):
    """Run in `folder`: the layout's models/, reports/ and data/embeddings/ are relative to it."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _params(raw: Path, root: Path, **extra) -> Params:
    return load_params(REPO / "params.yaml", {
        "data.root": str(raw), "data.dataset": "adult", "data.cache": str(root / "cache"),
        "data.validated": str(root / "validated"), "data.frames": 8, "data.resolution": 64,
        "evaluate.pediatric_dataset": "kids", "probe.seeds": [0, 1], "probe.epochs": 2,
        "probe.fractions": [0.01, 1.0],
    } | extra)  # fmt: skip


def _embed_and_probe(params: Params, encoder: Path | None) -> dict:
    """The embed and probe stages of the layout; returns the probe stage's metrics.json."""
    layout, config = params.layout(), params.pretrain
    tokens, table = embed_videos(
        load_encoder(config, encoder), config, layout.data.dataset_dir, layout.data.cache_dir,
        params.probe.clips_per_video, manifest=layout.data.manifest,
    )  # fmt: skip
    write_embeddings(tokens, table, layout.embeddings_dir)
    run_probe_stage(params, manifest_frame)
    return json.loads(layout.probe_metrics.read_text())


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("evaluation")
    raw = root / "raw"
    simulate_dataset(raw / "adult", 24, seed=4, cohort="adult", workers=2)  # 11 TEST, two with EF < 40
    simulate_dataset(raw / "kids", 10, seed=5, cohort="pediatric", workers=2)
    # the validated manifest (what the layout reads) with one TRAIN and one TEST study unlabelled
    manifest = pd.read_csv(raw / "adult" / "FileList.csv")
    for split in ("TRAIN", "TEST"):
        manifest.loc[manifest.index[manifest.Split == split][0], "EF"] = np.nan
    (root / "validated" / "adult").mkdir(parents=True)
    manifest.to_csv(root / "validated" / "adult" / "FileList.csv", index=False)
    params = _params(raw, root)
    phases: list[str] = []
    with inside(root):
        layout = params.layout()
        # the candidate: an encoder unlike the random-init baseline (another seed), without Lightning
        torch.manual_seed(1)
        layout.run_dir.mkdir(parents=True)
        torch.save(build_encoder(params.pretrain).state_dict(), layout.encoder)
        stage = _embed_and_probe(params, layout.encoder)
        report = evaluate_candidate(
            params, data_version="data-1", model_version="jepa-test", probe_stage=stage,
            on_progress=lambda phase, done, total: phases.append(phase),
        )  # fmt: skip
    return {
        "root": root, "raw": raw, "params": params, "manifest": manifest, "report": report, "phases": phases,
        "stage": stage,
    }  # fmt: skip


def test_the_report_has_the_interface_schema(setup: dict) -> None:
    report = setup["report"]
    assert {"metrics", "baselines", "subgroups", "gates", "data_version", "model_version"} <= set(report)
    assert (report["data_version"], report["model_version"]) == ("data-1", "jepa-test")
    assert [g["name"] for g in report["gates"]] == list(GATE_NAMES)
    assert all(set(g) >= {"name", "value", "threshold", "passed"} for g in report["gates"])
    json.dumps(report, allow_nan=False)  # plain JSON types, all finite
    check_report(report)  # numbers where numbers belong, reasons where they do not
    phases = {
        "embed",
        "probes",
        "baseline",
        "pixel_baselines",
        "effective_rank",
        "robustness",
        "pediatric",
        "total",
    }
    assert set(report["timing"]["wall_s"]) == set(report["timing"]["cpu_s"]) == phases
    assert {"embed_random_init", "pediatric"} <= set(setup["phases"])
    assert report["embeddings"]["candidate"].startswith("reused")  # the embed stage's token cache


def test_the_gated_probes_are_the_probe_stage_files(setup: dict) -> None:
    report, root = setup["report"], setup["root"]
    with inside(root):
        probes = setup["params"].layout().probes_dir
        on_disk = {str(p.relative_to(probes)): sha256_file(p) for p in sorted(probes.glob("*/seed-*.pt"))}
    assert report["probes"] == on_disk and set(on_disk) == {
        f"{t}/seed-{s}.pt" for t in ("ef", "view") for s in (0, 1)
    }
    # scoring the saved files reproduces what the stage measured when it fitted them
    for task, metric in (("ef", "mae"), ("view", "accuracy")):
        served = setup["stage"]["tasks"][task]["metrics"][metric]
        assert report["tasks"][task]["metrics"][metric] == pytest.approx(served)


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
    assert mean_mae == pytest.approx(metrics["ef_mae"]["value"])  # the served value is the ensemble's
    assert mean_mae <= metrics["ef_mae"]["mean"] + 1e-6  # and never worse than the single probes (convexity)


def test_baselines_random_init_and_the_mean_of_the_probes_training_rows(setup: dict) -> None:
    baselines, manifest = setup["report"]["baselines"], setup["manifest"]
    # params.yaml's grid of heads: the probes fit on TRAIN (VAL selects), so the mean predictor does too
    fit = (manifest.Split == "TRAIN") & manifest.EF.notna()  # exactly the rows the probes train on
    train_mean = manifest.EF[fit].mean()
    test_ef = manifest.EF[(manifest.Split == "TEST") & manifest.EF.notna()].to_numpy()
    assert baselines["mean_predictor"]["train_mean"] == pytest.approx(train_mean)
    assert baselines["mean_predictor"]["ef_mae"] == pytest.approx(np.abs(test_ef - train_mean).mean())
    assert (
        baselines["mean_predictor"]["n_fit"] == int(fit.sum())
        and baselines["mean_predictor"]["fit_on"] == "TRAIN"
    )
    assert setup["stage"]["tasks"]["ef"]["by_fraction"]["1"]["train_examples"] == int(fit.sum())
    assert np.isfinite(baselines["random_init"]["ef_mae"]["mean"])
    assert np.isfinite(baselines["random_init"]["view_accuracy"]["mean"])
    # the random-init tokens were cached for the next evaluation
    cache = setup["root"] / setup["params"].layout().baseline_embeddings_dir
    assert (cache / "key.json").is_file() and (cache / "results.json").is_file()


def test_the_candidate_is_compared_with_each_baseline_over_the_same_test_videos(setup: dict) -> None:
    """Paired bootstrap intervals (evaluation.comparisons) from the served ensembles' per-video errors: the
    same videos, the MAEs of the report, and the interval a hand computation on the same arrays gives."""
    from evaluation.bootstrap import paired_interval

    report, manifest = setup["report"], setup["manifest"]
    labelled = manifest[(manifest.Split == "TEST") & manifest.EF.notna()]
    served = report["predictions"]["ef"]
    candidate = {
        n: abs(p - t)
        for n, t, p in zip(served["FileName"], served["actual"], served["predicted"], strict=True)
    }
    assert sorted(candidate) == sorted(labelled.FileName.astype(str))
    baseline = report["baselines"]["random_init"]["ef_predictions"]
    assert sorted(baseline["FileName"]) == sorted(candidate)
    names = sorted(candidate)
    ours = np.array([candidate[n] for n in names])
    errors = np.abs(np.subtract(baseline["predicted"], baseline["true"]))
    theirs = dict(zip(baseline["FileName"], errors, strict=True))
    vs_random = report["comparisons"]["ef_mae_vs_random_init"]
    expected = paired_interval(ours, np.array([theirs[n] for n in names]))
    assert vs_random["n"] == len(names) and vs_random["difference"] == pytest.approx(expected.difference)
    assert (vs_random["low"], vs_random["high"]) == pytest.approx((expected.low, expected.high))
    assert vs_random["candidate_mae"] == pytest.approx(report["metrics"]["ef_mae"]["value"])
    assert vs_random["baseline_mae"] == pytest.approx(report["baselines"]["random_init"]["ef_mae"]["value"])
    assert vs_random["excludes_zero"] == (vs_random["low"] > 0 or vs_random["high"] < 0)
    vs_mean = report["comparisons"]["ef_mae_vs_mean_predictor"]
    assert vs_mean["baseline_mae"] == pytest.approx(report["baselines"]["mean_predictor"]["ef_mae"])
    assert vs_mean["difference"] == pytest.approx(vs_mean["candidate_mae"] - vs_mean["baseline_mae"])


def test_the_pixel_baselines_fit_on_the_probes_rows_and_the_candidate_is_compared_with_the_best(
    setup: dict,
) -> None:
    report, manifest = setup["report"], setup["manifest"]
    pixel = report["baselines"]["pixel"]
    assert set(pixel["estimators"]) == {"tubelet", "std_map", "dark_area"} and pixel["fit_on"] == "TRAIN"
    assert pixel["n_fit"] == report["baselines"]["mean_predictor"]["n_fit"]
    labelled_test = manifest[(manifest.Split == "TEST") & manifest.EF.notna()]
    for estimator in pixel["estimators"].values():
        predictions = estimator["ef_predictions"]
        assert sorted(predictions["FileName"]) == sorted(labelled_test.FileName.astype(str))
        errors = np.abs(np.subtract(predictions["predicted"], predictions["true"]))
        assert estimator["ef_mae"] == pytest.approx(errors.mean())
    best = pixel["best"]
    assert pixel["estimators"][best]["ef_mae"] == min(e["ef_mae"] for e in pixel["estimators"].values())
    vs_pixel = report["comparisons"]["ef_mae_vs_best_pixel_baseline"]
    assert vs_pixel["baseline"] == best and vs_pixel["n"] == len(labelled_test)
    assert vs_pixel["baseline_mae"] == pytest.approx(pixel["estimators"][best]["ef_mae"])
    assert vs_pixel["candidate_mae"] == pytest.approx(report["metrics"]["ef_mae"]["value"])
    # the features were cached beside the random-init tokens for the next evaluation
    cache = setup["root"] / setup["params"].layout().baseline_embeddings_dir / "pixel_features.npz"
    assert cache.is_file() and pixel["features"] == "computed"


def test_the_report_names_the_probe_protocol_and_the_selected_heads(setup: dict) -> None:
    report = setup["report"]
    protocol = report["probe_protocol"]
    assert protocol["text"] == "probe: attentive depth 1, 4 heads (2 lr × 2 wd grid), selected on VAL"
    assert (protocol["heads"], protocol["fit_on"], protocol["selected_on"]) == (4, "TRAIN", "VAL")
    chosen = report["tasks"]["ef"]["selection"]
    assert [s["seed"] for s in chosen] == [0, 1]
    grid = [tuple(g) for g in protocol["grid"]]
    assert all((s["lr"], s["weight_decay"]) in grid and s["metric"] == "val_mae" for s in chosen)


def test_the_collapse_monitor_measures_the_served_and_random_init_encoders(setup: dict) -> None:
    report, manifest, params = setup["report"], setup["manifest"], setup["params"]
    ranks = report["effective_rank"]
    held_out = manifest[manifest.Split.isin(["VAL", "TEST"])]
    assert (ranks["clips"], ranks["split"], ranks["width"]) == (len(held_out), "VAL+TEST", 96)
    assert "target_encoder" not in ranks and "by_step" not in ranks  # this run saved encoder.pt only
    with inside(setup["root"]):  # the same figures as model.collapse gives the files directly
        clips = held_out_clips(params.data)
        served = effective_rank(load_encoder(params.pretrain, params.layout().encoder), clips)
        random_init = effective_rank(load_encoder(params.pretrain, None), clips)
    assert ranks["served"] == {"pooled": served.pooled, "tokens": served.tokens}
    assert ranks["random_init"] == {"pooled": random_init.pooled, "tokens": random_init.tokens}
    assert ranks["served"] != ranks["random_init"]  # the candidate is another seed's encoder
    gate = next(g for g in report["gates"] if g["name"] == "effective_rank")
    bar = max(0.5 * random_init.tokens, 4.0)
    assert gate["value"] == served.tokens and gate["threshold"] == pytest.approx(bar)
    assert gate["passed"] == (served.tokens >= bar) and gate["note"].startswith("max(0.5 × random-init")


def test_robustness_covers_every_kind_and_severity_relative_to_clean(setup: dict) -> None:
    report = setup["report"]
    robustness = report["robustness"]
    assert [(r["kind"], r["severity"]) for r in robustness["settings"]] == [
        (k, s) for k in KINDS for s in SEVERITIES
    ]
    clean = report["metrics"]["ef_mae"]["value"]
    assert robustness["clean_ef_mae"]["value"] == pytest.approx(clean)
    increases = [r["ef_mae"]["value"] / clean - 1 for r in robustness["settings"]]
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


def test_the_monitoring_reference_is_written_for_the_same_probes(setup: dict) -> None:
    report, root = setup["report"], setup["root"]
    path = root / setup["params"].layout().monitoring_reference
    assert report["monitoring_reference"]["sha256"] == sha256_file(path)
    reference = pd.read_parquet(path)
    test = setup["manifest"][setup["manifest"].Split == "TEST"]
    assert reference.FileName.tolist() == test.FileName.tolist() and {"ef", "view", "embedding"} <= set(
        reference
    )
    predicted = dict(
        zip(report["predictions"]["ef"]["FileName"], report["predictions"]["ef"]["predicted"], strict=True)
    )
    labelled = reference[reference.FileName.isin(predicted)]
    assert labelled.ef.tolist() == pytest.approx([predicted[n] for n in labelled.FileName])


def test_the_report_and_card_are_written(setup: dict, tmp_path: Path) -> None:
    json_path, html_path = write_report(setup["report"], tmp_path)
    assert json.loads(json_path.read_text())["gates"] == setup["report"]["gates"]
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 5  # scatter, Bland–Altman, confusion, robustness, labels
    assert all(name in page for name in GATE_NAMES)


def test_cached_tokens_are_reused_and_a_zero_step_candidate_fails_the_margin(
    setup: dict, tmp_path: Path
) -> None:
    fast = {"evaluate.robustness_kinds": [], "evaluate.pediatric_dataset": None, "probe.seeds": [0],
            "probe.fractions": [1.0]}  # fmt: skip
    params = _params(setup["raw"], setup["root"], **fast)
    with inside(tmp_path):
        layout = params.layout()
        layout.run_dir.mkdir(parents=True)
        # the candidate IS the random-init encoder (same seed); its token cache is the baseline's
        encoder = load_encoder(params.pretrain, None)
        torch.save(encoder.state_dict(), layout.encoder)
        table = pd.read_csv(layout.data.manifest)
        clips = params.probe.clips_per_video
        baseline = layout.baseline_embeddings_dir
        key = token_key(params.pretrain, clips)
        clean_tokens(encoder, params.pretrain, layout.data.cache_dir, table, clips, baseline, "e", key=key)
        shutil.copytree(layout.baseline_embeddings_dir, layout.embeddings_dir)
        run_probe_stage(params, manifest_frame)
        report = evaluate_candidate(params)
    assert report["embeddings"]["candidate"].startswith("reused")
    gates = {g["name"]: g for g in report["gates"]}
    assert gates["ef_mae_margin_over_random_init"]["value"] == 0
    assert not gates["ef_mae_margin_over_random_init"]["passed"]
    # a zero-step encoder has not collapsed: its RankMe is the random-init one's, so the collapse gate passes
    assert report["effective_rank"]["served"] == report["effective_rank"]["random_init"]
    assert gates["effective_rank"]["passed"]
    assert report["pediatric"] == {"value": None, "reason": "evaluate.pediatric_dataset is null"}
    # not measured is not passed: pediatric is advisory when it cannot be measured, robustness blocks
    assert not gates["pediatric_ef_mae"]["passed"] and not gates["pediatric_ef_mae"]["blocks"]
    assert report["robustness"]["settings"] == [] and gates["robustness_mean_increase"]["blocks"]

    # a cache of other studies, or of another encoder shape, is not reused
    manifest = setup["manifest"]
    tokens = np.load(setup["root"] / layout.baseline_embeddings_dir / "tokens.npy")
    encoder = build_encoder(params.pretrain)
    write_embeddings(tokens[:5], manifest.head(5), tmp_path / "other")
    assert "other studies" in reusable_tokens(tmp_path / "other", manifest, encoder, 3)
    write_embeddings(tokens[:, :2], manifest, tmp_path / "two-clips")
    assert "do not match" in reusable_tokens(tmp_path / "two-clips", manifest, encoder, 3)


def test_the_random_init_baseline_is_cached_across_evaluations(setup: dict) -> None:
    fast = {"evaluate.robustness_kinds": [], "evaluate.pediatric_dataset": None, "probe.seeds": [0]}
    params = _params(setup["raw"], setup["root"], **fast)  # another probe protocol than the fixture's
    folder = params.layout().baseline_embeddings_dir
    with inside(setup["root"]):
        first, second = evaluate_candidate(params), evaluate_candidate(params)  # tokens reused, probes refit
    assert first["embeddings"]["random_init"] == f"reused {folder}"
    assert second["embeddings"]["random_init"] == f"reused {folder} (tokens and probe results)"
    assert second["baselines"] == first["baselines"]
    assert (
        first["baselines"]["random_init"]["ef_mae"] != setup["report"]["baselines"]["random_init"]["ef_mae"]
    )


def test_small_data_is_reported_as_small(setup: dict) -> None:
    report = setup["report"]
    n = report["metrics"]["n_test_labelled"]
    assert n < setup["params"].evaluate.min_test_videos and report["metrics"]["small"] is True
    assert any(w.startswith(f"only {n} labelled TEST studies") for w in report["warnings"])
    assert report["subgroups"]["reduced_ef"]["small"] is True  # two studies below EF 40
    assert any(w.startswith("subgroup reduced EF: ") for w in report["warnings"])
    with inside(setup["root"]):
        lenient = {"evaluate.min_test_videos": 1, "evaluate.min_subgroup_videos": 1}
        big = evaluate_candidate(setup["params"].with_overrides(lenient))
    assert big["warnings"] == [] and "small" not in big["metrics"]


def test_a_simulated_pediatric_set_does_not_gate_a_real_data_model(setup: dict, tmp_path: Path) -> None:
    from evaluation.pediatric import is_simulated, pediatric_report

    raw = tmp_path / "raw"
    shutil.copytree(setup["raw"] / "adult", raw / "adult")
    shutil.copytree(setup["raw"] / "kids", raw / "kids")
    (raw / "adult" / "simulation.json").unlink()  # the training data is real now
    assert is_simulated(raw / "kids") and not is_simulated(raw / "adult")
    params = _params(raw, setup["root"])
    encoder = load_encoder(params.pretrain, None)
    ef = None  # not reached: the set is refused before anything is embedded
    refused = pediatric_report(encoder, params, ef, None)
    assert "kids is simulated and the model's data (adult) is not" in refused.reason
    allowed = params.with_overrides({"evaluate.synthetic_sets_gate_real_data": True})
    with pytest.raises(AttributeError):  # configured so, it is measured (and needs the probes)
        pediatric_report(encoder, allowed, ef, None)
