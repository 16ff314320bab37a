"""`echojepa experiment seed-table` end to end on a small simulated dataset: every method pretrained at
equal steps and batch, the same protocol's numbers, the markdown table with the paper's rows, the plots,
reuse on a re-run, and the claims' verdicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation.results import NotMeasured, jsonable
from experiments.budgets import METHODS
from experiments.protocol import patient_folds
from experiments.report import claims, write_report
from experiments.seed_table import run_seed_table
from flows.cli import main
from ultrasound.dataset import simulate_dataset

FAST = {
    "data.frames": 8, "data.resolution": 64, "data.batch_size": 4, "optimization.steps": 6,
    "optimization.warmup": 1, "optimization.checkpoint_every": 3,
}  # fmt: skip
PROBE = {"probe.epochs": 2}  # the probes' epochs, through the same overrides


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("seed")
    simulate_dataset(root / "adult", 24, seed=4, cohort="adult", workers=2)
    simulate_dataset(root / "kids", 12, seed=5, cohort="pediatric", workers=2)
    kwargs = {
        "data_dir": root / "adult", "pediatric_dir": root / "kids", "out_dir": root / "report",
        "models_dir": root / "models", "seeds": (0, 1), "overrides": FAST | PROBE, "curve": (),
    }  # fmt: skip
    stages: list[str] = []
    results = run_seed_table("tiny", on_stage=stages.append, **kwargs)
    return {"root": root, "results": results, "kwargs": kwargs, "stages": stages}


def test_every_method_is_trained_at_equal_steps_and_measured(table_run: dict) -> None:
    methods = table_run["results"]["methods"]
    assert list(methods) == list(METHODS)
    for name in ("jepa", "videomae", "supervised"):
        train = methods[name]["pretraining"]
        assert (train["steps"], train["batch"]) == (6, 4) and train["total_flops"] > 1e9
        runs = list((table_run["root"] / "models" / "seed-table-tiny").glob(f"{name}-*/encoder.pt"))
        assert len(runs) == 1
    assert methods["random_init"]["pretraining"]["steps"] == 0
    # JEPA is probed through its EMA target encoder (V-JEPA's evaluation), the others through their encoder
    weights = {name: m["pretraining"]["weights"] for name, m in methods.items()}
    assert weights == {"jepa": "target_encoder.pt", "videomae": "encoder.pt", "supervised": "encoder.pt",
                       "random_init": "random init"}  # fmt: skip
    for name, m in methods.items():
        assert m["ef_mae"]["mean"] > 0 and m["ef_mae"]["std"] >= 0, name
        assert set(m["view_accuracy"]) == {"0.01", "0.1", "1"}
        assert all(0 <= v["mean"] <= 1 for v in m["view_accuracy"].values())
        rob = m["robustness"]
        assert len(rob["settings"]) == 6 and np.isfinite(rob["mean_increase"])
        # relative to the served ensemble's clean EF MAE, as the evaluation computes it
        expected = np.mean([s["ef_mae"]["value"] / m["ef_mae"]["value"] - 1 for s in rob["settings"]])
        assert rob["mean_increase"] == pytest.approx(expected)
        ped = m["pediatric"]
        assert ped["n"] == 12 and ped["folds"] == 3 and ped["probe_epochs"] >= 2
        assert ped["zero_shot_ef_mae"]["mean"] > 0 and ped["probe_trained_ef_mae"]["mean"] > 0
    # different encoders give different numbers under the same protocol
    assert len({round(m["ef_mae"]["mean"], 6) for m in methods.values()}) == 4


def test_report_puts_the_paper_beside_ours(table_run: dict) -> None:
    report = table_run["root"] / "report"
    text = (report / "table.md").read_text()
    for row in ("JEPA (latent prediction)", "VideoMAE (pixel reconstruction)", "Supervised from scratch",
                "Random-init frozen encoder", "EchoJEPA-L (paper) | 5.76", "EchoMAE-L"):  # fmt: skip
        assert row in text
    verdict = re.compile(r"\| (yes|no|n/a|not testable — [^|]+) \|$")
    claim_rows = [line for line in text.splitlines() if verdict.search(line)]
    assert len(claim_rows) == 8
    # two probe seeds and per-video TEST predictions: the EF claims carry their paired 95 % CI
    ef_claims = [line for line in claim_rows if line.startswith("| JEPA has lower EF MAE")]
    assert len(ef_claims) == 2  # vs VideoMAE, and vs the best pixel-only estimator
    assert all("95 % CI" in c and c.endswith(("| yes |", "| no |")) for c in ef_claims)
    # the probe protocol beside the table, and the encoder-free baselines as rows of it
    assert "probe: attentive depth 1, 4 heads (2 lr × 2 wd grid), selected on VAL" in text
    baselines = table_run["results"]["baselines"]
    pixel, mean = baselines["pixel"], baselines["mean_predictor"]
    assert mean["fit_on"] == pixel["fit_on"] == "TRAIN" and pixel["best"] in pixel["estimators"]
    assert f"| Mean predictor (the mean EF of TRAIN) | {mean['ef_mae']:.4g} |" in text
    best = pixel["estimators"][pixel["best"]]["ef_mae"]
    assert re.search(rf"\| Pixel only: [^|]+ \(best\) \| {best:.2f} \|", text)
    assert all(s["metric"] == "val_mae" for s in table_run["results"]["methods"]["jepa"]["ef_selection"])
    assert (report / "seed_table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((report / "results.json").read_text())
    assert saved["methods"]["jepa"]["ef_mae"] == table_run["results"]["methods"]["jepa"]["ef_mae"]


def test_rerun_reuses_pretraining_and_measurements(table_run: dict) -> None:
    stages: list[str] = []
    again = run_seed_table("tiny", on_stage=stages.append, **table_run["kwargs"])
    assert all(again["methods"][m]["pretraining"]["reused"] for m in ("jepa", "videomae", "supervised"))
    assert not any("protocol" in s for s in stages)  # nothing re-measured
    for m in METHODS:
        assert again["methods"][m]["ef_mae"] == table_run["results"]["methods"][m]["ef_mae"]


def test_a_changed_setting_trains_afresh(table_run: dict) -> None:
    """Another step count (or seed, or dataset) gets its own run folder: never another config's weights."""
    kwargs = table_run["kwargs"] | {"overrides": FAST | PROBE | {"optimization.steps": 4}}
    changed = run_seed_table("tiny", methods=("videomae",), **kwargs)
    train = changed["methods"]["videomae"]["pretraining"]
    assert train["steps"] == 4 and not train["reused"]
    runs = sorted((table_run["root"] / "models" / "seed-table-tiny").glob("videomae-*"))
    assert len(runs) == 2
    assert (runs[0] / "encoder.pt").read_bytes() != (runs[1] / "encoder.pt").read_bytes()


def test_unusable_labels_fail_before_any_training(table_run: dict, tmp_path: Path) -> None:
    folder = tmp_path / "nolabels"
    folder.mkdir()
    (folder / "Videos").symlink_to(table_run["root"] / "adult" / "Videos")
    manifest = pd.read_csv(table_run["root"] / "adult" / "FileList.csv")
    manifest.loc[manifest.Split == "TRAIN", "EF"] = np.nan
    manifest.to_csv(folder / "FileList.csv", index=False)
    kwargs = table_run["kwargs"] | {"data_dir": folder, "models_dir": tmp_path / "models"}
    with pytest.raises(ValueError, match="supervised baseline needs ≥ 2 EF-labelled TRAIN"):
        run_seed_table("tiny", **kwargs)
    assert not (tmp_path / "models").exists()
    manifest.drop(columns="EF").to_csv(folder / "FileList.csv", index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) EF"):
        run_seed_table("tiny", **kwargs)


def _predictions(errors: np.ndarray) -> dict:
    return {"FileName": [f"v{i}" for i in range(len(errors))], "true": [50.0] * len(errors),
            "predicted": (50.0 + errors).tolist()}  # fmt: skip


def test_claims_are_judged_on_the_numbers() -> None:
    """EF claims: reproduced only when the paired bootstrap CI over TEST videos excludes zero; claims with a
    spread over seeds only are not testable; one probe seed is never enough."""
    rng = np.random.default_rng(0)

    def method(
        ef: float, std: float, view1: float, rob: float, zs: float, pt: float, noise: float = 1.0
    ) -> dict:
        errors = np.abs(rng.normal(0, ef * 1.25, 60)) * noise  # mean |N(0, σ)| = 0.8 σ
        return {
            "ef_mae": {"mean": ef, "std": std}, "ef_test": _predictions(errors),
            "view_accuracy": {"0.01": {"mean": view1, "std": 0.01}},
            "robustness": {"mean_increase": rob},
            "pediatric": {"zero_shot_ef_mae": {"mean": zs, "std": 0.1},
                          "probe_trained_ef_mae": {"mean": pt, "std": 0.1}},
        }  # fmt: skip

    good = {
        "jepa": method(5.0, 0.1, 0.6, 0.02, 6.0, 5.0),
        "videomae": method(8.0, 0.2, 0.2, 0.01, 7.0, 7.0),
        "supervised": method(3.0, 0.1, 0.2, 0.17, 5.0, 4.5),
        "random_init": method(9.0, 0.1, 0.2, 0.5, 9, 9),
    }
    verdicts = {row[0][:20]: row[3] for row in claims(good, seeds=3)}
    assert verdicts["JEPA has lower EF MA"] == "yes" and verdicts["JEPA pretraining bea"] == "yes"
    assert verdicts["A supervised model b"] == "yes"
    for claim in (
        "JEPA is more label-e",
        "JEPA degrades less u",
        "JEPA transfers bette",
        "A pediatric-trained ",
    ):
        assert verdicts[claim] == "not testable — no CI over TEST videos"
    ours = next(row[2] for row in claims(good, seeds=3) if row[0].startswith("JEPA has lower EF MAE"))
    assert "MAE difference" in ours and "95 % CI, 60 videos" in ours
    # the same errors for JEPA and VideoMAE up to noise: the CI holds zero, not reproduced
    close = good | {
        "videomae": good["jepa"]
        | {
            "ef_test": _predictions(
                np.asarray(good["jepa"]["ef_test"]["predicted"]) - 50 + rng.normal(0, 0.3, 60)
            )
        }
    }
    assert {row[0][:20]: row[3] for row in claims(close, seeds=3)}["JEPA has lower EF MA"] == "no"
    # one probe seed: nothing is called reproduced, however large the gap
    single = {row[3] for row in claims(good, seeds=1)}
    assert single == {"not testable — 1 probe seed(s), 2 needed"}
    # numbers without per-video predictions (an old results.json): not testable
    bare = {k: {key: v for key, v in m.items() if key != "ef_test"} for k, m in good.items()}
    assert claims(bare, seeds=3)[0][3] == "not testable — no per-video TEST predictions (no CI)"


def test_patient_folds_keep_patients_together() -> None:
    table = pd.DataFrame(
        {"FileName": [f"v{i}" for i in range(20)], "PatientID": [f"p{i // 2}" for i in range(20)]}
    )
    folds = patient_folds(table, 5)
    assert set(folds) == set(range(5))
    assert all(len(set(folds[table.PatientID == p])) == 1 for p in table.PatientID.unique())


def test_bad_inputs_fail_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match="unknown budget 'huge'"):
        run_seed_table("huge")
    with pytest.raises(SystemExit) as exit_info:
        main(["experiment", "seed-table", "--data", str(tmp_path)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not an EchoNet-layout folder" in err and str(tmp_path) in err
    # a mistyped --set key (probe settings included) is the loader's one-line error, before any work
    with pytest.raises(SystemExit) as exit_info:
        main(["experiment", "seed-table", "--set", "probe.epochz=2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and err.count("\n") == 0 and "probe.epochz: unknown key" in err
    assert not (tmp_path / "out").exists()


def test_report_says_why_a_column_was_not_measured(tmp_path: Path) -> None:
    """Single-view data and no pediatric set: the cells read the reason, results.json holds null + reason,
    the claims that need them are n/a, and the plots still draw."""
    pretraining = {"steps": 6, "batch": 4, "total_flops": 2e9, "seconds": 1.0}
    no_view, no_kids = NotMeasured("fewer than two views (A4C)"), NotMeasured("no pediatric dataset given")
    rob = {"settings": [{"kind": "blur", "severity": "low", "ef_mae": {"value": 9.9, "mean": 9.8, "std": 0.1},
                         "relative_increase": 0.1}], "mean_increase": 0.1}  # fmt: skip

    def method(ef: float, robustness) -> dict:
        return {"ef_mae": {"value": ef, "mean": ef, "std": 0.1}, "view_accuracy": no_view,
                "robustness": robustness, "pediatric": no_kids, "pretraining": pretraining}  # fmt: skip

    results = jsonable({
        "budget": "tiny", "data": "adult", "pediatric_data": None, "config": {"probe": {"seeds": [0]}},
        "methods": {"jepa": method(9.0, rob), "videomae": method(9.5, NotMeasured("no ef probe"))},
    })  # fmt: skip
    assert results["methods"]["jepa"]["pediatric"] == {"value": None, "reason": "no pediatric dataset given"}
    write_report(results, tmp_path)
    table = (tmp_path / "table.md").read_text()
    jepa_row = next(line for line in table.splitlines() if line.startswith("| JEPA (latent"))
    assert jepa_row.count("n/a — fewer than two views (A4C)") == 3 and "| +10.0% |" in jepa_row
    assert "n/a — no pediatric dataset given / n/a — no pediatric dataset given" in jepa_row
    verdicts = {row[0][:20]: row[3] for row in claims(results["methods"], seeds=1)}
    assert verdicts["JEPA is more label-e"] == "n/a" and verdicts["JEPA transfers bette"] == "n/a"
    assert verdicts["JEPA has lower EF MA"] == "not testable — 1 probe seed(s), 2 needed"
    assert "| VideoMAE (pixel reconstruction) | n/a |" in table  # its robustness row
    assert (tmp_path / "seed_table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_run_ends_cleanly(
    table_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`echojepa experiment seed-table` with pretraining in it: Lightning's progress bar and ours never
    share the console at once (they broke rich's live stack: IndexError at the very end of a long run)."""
    (tmp_path / "params.yaml").write_text((Path(__file__).parents[2] / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    sets = [arg for pair in (FAST | PROBE).items() for arg in ("--set", f"{pair[0]}={pair[1]}")]
    with pytest.raises(SystemExit) as exit_info:  # cyclopts exits with the command's status
        main([
            "experiment", "seed-table", "--data", str(table_run["root"] / "adult"), "--out", "report",
            "--methods", "videomae", "--methods", "supervised", "--seeds", "0", "--no-curve", *sets,
        ])  # fmt: skip
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "wrote report/table.md" in out and "| VideoMAE (pixel reconstruction) |" in out
    assert "n/a — no pediatric dataset given" in out  # no --pediatric with --data: the column says why
    resolved = yaml.safe_load((tmp_path / "report" / "params.resolved.yaml").read_text())
    assert resolved["probe"]["epochs"] == 2 and resolved["probe"]["seeds"] == [0]
    assert resolved["optimization"]["steps"] == FAST["optimization.steps"]
    assert len(list((tmp_path / "models" / "experiments" / "seed-table-tiny").glob("*/encoder.pt"))) == 2
