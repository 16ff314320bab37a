"""The seed table's compute curve (experiments.compute_curve) on a small simulated dataset: equal training
FLOPs per budget (VideoMAE gets more steps than JEPA for the same FLOPs), two pretraining seeds at 1×, the
table's JEPA run reused as the 1× seed-0 point, per-point CIs, the paired comparisons and the report; and
the trend arithmetic on numbers whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.compute_curve import compare, crossings, flops_per_step, plan, point_params
from experiments.seed_table import run_seed_table
from ultrasound.dataset import simulate_dataset

FAST = {
    "data.frames": 8, "data.resolution": 64, "data.batch_size": 4, "optimization.steps": 6,
    "optimization.warmup": 2, "optimization.checkpoint_every": 3, "probe.epochs": 2,
}  # fmt: skip
SCALES = (0.5, 1.0, 2.0)


@pytest.fixture(scope="module")
def curve_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("curve")
    simulate_dataset(root / "adult", 40, seed=6, cohort="adult", workers=2)
    results = run_seed_table(
        "tiny", data_dir=root / "adult", out_dir=root / "report", models_dir=root / "models",
        methods=("jepa", "random_init"), seeds=(0, 1), overrides=FAST, curve=SCALES,
    )  # fmt: skip
    return {"root": root, "results": results}


def test_every_budget_is_equal_flops_not_equal_steps(curve_run: dict) -> None:
    curve = curve_run["results"]["compute_curve"]
    points = curve["points"]
    by = {(p["method"], p["scale"], p["seed"]): p for p in points}
    for method in ("jepa", "videomae"):
        expected = [(method, 0.5, 0), (method, 1.0, 0), (method, 1.0, 1), (method, 2.0, 0)]
        assert sorted(k for k in by if k[0] == method) == expected
    assert [k for k in by if k[0] == "supervised"] == [("supervised", 2.0, 0)]
    assert by[("jepa", 1.0, 0)]["pretraining"]["steps"] == 6  # 1× is the table's budget
    for scale in SCALES:
        jepa, mae = by[("jepa", scale, 0)]["pretraining"], by[("videomae", scale, 0)]["pretraining"]
        target = scale * curve["reference_flops"]
        assert mae["steps"] > jepa["steps"]  # a VideoMAE step is cheaper: more of them for the same FLOPs
        for p in (jepa, mae):  # within half a step of the budget
            assert abs(p["total_flops"] - target) <= 0.5 * p["total_flops"] / p["steps"] + 1e-6 * target
    for p in points:
        if p["method"] != "random_init":
            assert p["pretraining"]["steps"] == p["steps"] and isinstance(p["ef_mae"]["value"], float)
            ci = p["ef_mae_ci"]
            assert ci["low"] <= p["ef_mae"]["value"] <= ci["high"] and ci["n"] == p["n_test"] >= 2


def test_the_tables_run_is_the_curves_1x_point_and_seeds_train_apart(curve_run: dict) -> None:
    runs = sorted((curve_run["root"] / "models" / "seed-table-tiny").glob("jepa-*/encoder.pt"))
    assert len(runs) == 4  # 0.5×, 1× (the table's, reused) with seed 0 and seed 1, 2×
    points = curve_run["results"]["compute_curve"]["points"]
    seeds = [p for p in points if p["method"] == "jepa" and p["scale"] == 1.0]
    assert seeds[0]["ef_test"]["predicted"] != seeds[1]["ef_test"]["predicted"]
    table_jepa = curve_run["results"]["methods"]["jepa"]["pretraining"]
    assert table_jepa["total_flops"] == pytest.approx(seeds[0]["pretraining"]["total_flops"])


def test_comparisons_and_report(curve_run: dict) -> None:
    curve = curve_run["results"]["compute_curve"]
    keys = ("jepa_trend", "videomae_trend", "jepa_vs_videomae_at_top", "jepa_vs_random_init_at_top",
            "supervised_vs_0.75_mean_predictor", "supervised_vs_best_pixel",
            "jepa_seed_spread_at_1x")  # fmt: skip
    for key in keys:
        c = curve["comparisons"][key]
        assert c["low"] <= c["difference"] <= c["high"] and c["excludes_zero"] == (
            c["low"] > 0 or c["high"] < 0
        )
    assert set(curve["trend"]["lines"]) == {"jepa", "videomae"}
    out = curve_run["root"] / "report"
    saved = json.loads((out / "compute_curve.json").read_text())
    assert saved["points"] == curve["points"]
    md = (out / "compute_curve.md").read_text()
    assert "equal" in md.lower() and md.count("| JEPA (latent prediction) |") == 4
    assert "The compute curve" in (out / "table.md").read_text()
    assert (out / "compute_curve.png").stat().st_size > 10_000


def test_the_plan_scales_warmup_and_caps_checkpoints(curve_run: dict) -> None:
    from config.params import load_params
    from experiments.budgets import datasets

    base = load_params(overrides=FAST)
    adult, _ = datasets(base, curve_run["root"] / "adult", None)
    reference, points = plan(base, adult, (0.25, 4.0))
    smallest = next(p for p in points if p.method == "jepa" and p.scale == 0.25)
    assert smallest.steps == 2 and smallest.warmup == 1  # 6 steps × 0.25 → 2 (rounded); warm-up a third
    assert point_params(base, adult, smallest).optimization.checkpoint_every == 2
    largest = next(p for p in points if p.method == "supervised")
    assert largest.scale == 4.0 and largest.steps * largest.flops_per_step == pytest.approx(
        4 * reference, rel=0.5 / largest.steps
    )
    assert flops_per_step(point_params(base, adult, smallest)) == pytest.approx(reference / 6)


def _row(method: str, scale: float, flops: float, errors: np.ndarray) -> dict:
    names = [f"v{i}" for i in range(len(errors))]
    test = {"FileName": names, "true": [0.0] * len(errors), "predicted": list(errors)}
    return {"method": method, "scale": scale, "seed": 0, "ef_mae": {"value": float(np.mean(errors))},
            "pretraining": {"total_flops": flops}, "ef_test": test}  # fmt: skip


def test_trend_lines_and_where_they_cross() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 60)
    rows = [_row("jepa", s, 1e12 * s, 10 - 2 * np.log10(s) + base) for s in (1, 10, 100)]
    rows += [_row("videomae", s, 1e12 * s, 8 + 0 * s + base) for s in (1, 10, 100)]
    rows.append(_row("random_init", None, 0.0, 4 + base) | {"pretraining": {"total_flops": 0.0}})
    trend = crossings(rows)
    assert trend["lines"]["jepa"]["slope_per_decade"] == pytest.approx(-2.0)
    assert trend["lines"]["videomae"]["slope_per_decade"] == pytest.approx(0.0, abs=1e-9)
    mean = 10 + base.mean()  # jepa at 1e12; meets videomae (8 + mean - 10) at +1 decade, random at +3
    assert trend["jepa_meets_videomae_at_flops"] == pytest.approx(1e13, rel=1e-6)
    assert trend["jepa_meets_random_init_at_flops"] == pytest.approx(1e15, rel=1e-6), mean
    better = compare(rows[2], rows[0])  # 4 points lower on every video: a CI excluding zero
    assert better["difference"] == pytest.approx(-4.0) and better["excludes_zero"] and better["high"] < 0
    assert compare(rows[0], rows[0], factor=0.75)["difference"] == pytest.approx(
        0.25 * rows[0]["ef_mae"]["value"]
    )
    assert compare(None, rows[0]).reason


def test_the_cli_offers_the_curve_budgets_and_skipping_it(capsys: pytest.CaptureFixture) -> None:
    from flows.cli import main

    with pytest.raises(SystemExit):
        main(["experiment", "seed-table", "--help"])
    shown = capsys.readouterr().out
    assert "--curve" in shown and "--no-curve" in shown


def test_verdicts_follow_the_claimed_direction_and_far_crossings_are_dropped() -> None:
    from experiments.compute_curve import check_scales
    from experiments.curve_report import verdict

    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 40)
    low, high = _row("jepa", 4.0, 4e12, 5 + base), _row("jepa", 0.25, 2.5e11, 7 + base)
    assert verdict("jepa_trend", compare(low, high)) == "yes"  # 4x is 2 points lower on every video
    assert verdict("jepa_trend", compare(high, low)) == "no"  # worse with compute: the claim fails
    assert verdict("jepa_trend", compare(None, low)).startswith("n/a")
    # a JEPA line barely falling, far above the random-init level: a crossing ~10^400 FLOPs away is none
    rows = [_row("jepa", s, 1e12 * s, 8 - 0.005 * np.log10(s) + base) for s in (1, 10, 100)]
    rows.append(_row("random_init", None, 0.0, 6 + base))
    assert crossings(rows)["jepa_meets_random_init_at_flops"] is None
    assert check_scales((4, 0.25, 1)) == (0.25, 1.0, 4.0)
    for bad in ((1.0,), (1.0, 1.0), (0.0, 1.0), (-1.0, 2.0)):
        with pytest.raises(ValueError, match="compute-curve budgets"):
            check_scales(bad)
