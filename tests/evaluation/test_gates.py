"""Release gates on hand-made reports: absolute bounds, margins over baselines, no regression, and what a
metric that was not measured does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.params import ConfigError, load_params
from evaluation.config import EvaluationConfig, GatesConfig
from evaluation.gates import GATE_NAMES, GateCounts, GateResult, check_gates, failed_gates
from evaluation.results import NotMeasured
from tests.packaged import REPO

PARAMS = load_params(REPO / "params.yaml")


def gates_config(**changes) -> GatesConfig:
    """params.yaml's gates with some thresholds changed (validated again)."""
    return GatesConfig.model_validate(PARAMS.gates.model_dump() | changes)


def _report(
    ef_mae=8.0, random_init=9.0, mean_predictor=10.7, view=0.8, rob_mean=0.05, rob_worst=0.1, pediatric=12.0,
    reduced_mae=15.0, auroc=0.8, test_set="abc", served_rank=40.0, random_rank=60.0,
) -> dict:  # fmt: skip
    def ms(x):
        return x if isinstance(x, NotMeasured) else {"value": x, "mean": x, "std": 0.1}

    def ranks(tokens):
        return tokens if isinstance(tokens, NotMeasured) else {"pooled": 2.0, "tokens": tokens}

    return {
        "metrics": {
            "ef_mae": ms(ef_mae), "view_accuracy": ms(view), "robustness_mean_increase": rob_mean,
            "robustness_worst_increase": rob_worst, "pediatric_ef_mae": ms(pediatric),
        },
        "baselines": {
            "random_init": {"ef_mae": ms(random_init)}, "mean_predictor": {"ef_mae": mean_predictor},
        },
        "subgroups": {"reduced_ef": {"ef_mae": ms(reduced_mae), "auroc": ms(auroc)}},
        "test_set": {"n": 47, "sha256": test_set},
        "effective_rank": {"clips": 70, "split": "VAL+TEST", "width": 96, "served": ranks(served_rank),
                           "random_init": ranks(random_rank)},
    }  # fmt: skip


def _by_name(gates: list[GateResult]) -> dict[str, GateResult]:
    return {g.name: g for g in gates}


def test_a_healthy_candidate_passes_every_gate_in_a_fixed_order() -> None:
    # EF MAE 8 on the simulator: 11 % better than random-init (9.0), 25 % better than the TRAIN mean (10.7)
    gates = check_gates(_report(), PARAMS.gates, None)
    assert [g.name for g in gates] == list(GATE_NAMES)
    assert all(set(g.to_json()) >= {"name", "value", "threshold", "passed", "blocks"} for g in gates)
    assert all(g.passed for g in gates if g.measured) and failed_gates(gates) == []
    # a first release: the no-regression gates are not measured, so not passed, and advisory by rule
    assert [g.name for g in gates if not g.measured] == [
        "no_regression_ef_mae",
        "no_regression_view_accuracy",
    ]
    assert str(GateCounts.of(gates)) == "10 passed, 0 failed, 2 not measured (none blocks)"
    by = _by_name(gates)
    assert by["ef_mae_margin_over_random_init"].value == pytest.approx(1 - 8.0 / 9.0, abs=1e-4)
    assert by["ef_mae_margin_over_mean_predictor"].value == pytest.approx(1 - 8.0 / 10.7, abs=1e-4)
    assert by["ef_mae"].to_json() == {
        "name": "ef_mae", "value": 8.0, "threshold": 10.0, "direction": "<=", "passed": True,
        "advisory": False, "blocks": False,
    }  # fmt: skip
    assert GateResult.from_json(by["ef_mae"].to_json()) == by["ef_mae"]


def test_a_zero_step_candidate_fails_the_random_init_margin() -> None:
    # a zero-step candidate is the random-init encoder: identical MAE, margin exactly 0
    gates = check_gates(_report(ef_mae=9.0, random_init=9.0, mean_predictor=12.0), PARAMS.gates, None)
    assert not _by_name(gates)["ef_mae_margin_over_random_init"].passed
    assert failed_gates(gates) == ["ef_mae_margin_over_random_init: 0 < 0.05"]


def test_failure_lines_name_the_gate_value_and_threshold() -> None:
    config = gates_config(ef_mae_margin_over_random_init=0.05, ef_mae_max=9.0, reduced_ef_auroc_min=0.9)
    gates = check_gates(_report(ef_mae=9.9, random_init=10.0, mean_predictor=13.0), config, None)
    assert failed_gates(gates) == [
        "ef_mae: 9.9 > 9",
        "ef_mae_margin_over_random_init: 0.01 < 0.05",
        "reduced_ef_auroc: 0.8 < 0.9",
    ]


@pytest.mark.parametrize(
    ("field", "value", "gate"),
    [
        ("view", 0.4, "view_accuracy"),
        ("rob_mean", 0.3, "robustness_mean_increase"),
        ("rob_worst", 0.6, "robustness_worst_increase"),
        ("pediatric", 25.0, "pediatric_ef_mae"),
        ("reduced_mae", 30.0, "reduced_ef_mae"),
        ("auroc", 0.5, "reduced_ef_auroc"),
        ("mean_predictor", 8.5, "ef_mae_margin_over_mean_predictor"),
        ("served_rank", 20.0, "effective_rank"),
    ],
)
def test_each_absolute_and_margin_gate_fails_on_its_own(field: str, value: float, gate: str) -> None:
    gates = check_gates(_report(**{field: value}), PARAMS.gates, None)
    assert [g.name for g in gates if not g.passed and g.measured] == [gate]


def test_first_release_no_regression_gates_are_not_measured_and_advisory_by_rule() -> None:
    by = _by_name(check_gates(_report(), PARAMS.gates, None))
    assert (
        PARAMS.gates.when_not_measured["no_regression_ef_mae"] == "block"
    )  # the rule wins on a first release
    for name in ("no_regression_ef_mae", "no_regression_view_accuracy"):
        assert isinstance(by[name].value, NotMeasured) and not by[name].passed and not by[name].blocks
        assert "first release" in by[name].value.reason
        assert by[name].label.startswith("not measured — first release") and by[name].label.endswith(
            "(advisory)"
        )
        assert by[name].to_json()["value"] is None and "first release" in by[name].to_json()["reason"]


def test_regression_against_production_beyond_the_tolerance_fails() -> None:
    production = _report(ef_mae=7.0, view=0.9)
    gates = check_gates(_report(ef_mae=8.0, view=0.8), PARAMS.gates, production)
    by = _by_name(gates)
    assert by["no_regression_ef_mae"].value == pytest.approx(1.0)  # candidate − production MAE
    assert by["no_regression_view_accuracy"].value == pytest.approx(0.1)  # production − candidate accuracy
    assert failed_gates(gates) == ["no_regression_ef_mae: 1 > 0.5", "no_regression_view_accuracy: 0.1 > 0.05"]
    assert by["no_regression_ef_mae"].note == ""  # same TEST set


def test_within_tolerance_or_better_than_production_passes() -> None:
    for candidate, production in ((8.4, 8.0), (7.0, 8.0)):
        gates = check_gates(_report(ef_mae=candidate, view=0.78), PARAMS.gates, _report(ef_mae=production))
        assert all(g.passed for g in gates)  # every gate measured against production


def test_a_production_report_on_another_test_set_is_compared_with_a_note() -> None:
    by = _by_name(check_gates(_report(), PARAMS.gates, _report(test_set="other")))
    assert "different TEST set" in by["no_regression_ef_mae"].note


def test_unmeasurable_metrics_never_pass_and_block_by_their_policy() -> None:
    na = NotMeasured("fewer than two views")
    report = _report(
        view=na, pediatric=NotMeasured("no set"), auroc=NotMeasured("one class only"),
        reduced_mae=NotMeasured("none"),
    )  # fmt: skip
    gates = check_gates(report, PARAMS.gates, _report(view=na))
    by = _by_name(gates)
    for name in ("view_accuracy", "pediatric_ef_mae", "reduced_ef_auroc", "reduced_ef_mae"):
        assert not by[name].passed and isinstance(by[name].value, NotMeasured) and by[name].value.reason
        assert by[name].advisory and not by[name].blocks  # their policy in params.yaml: advisory
    assert not by["no_regression_view_accuracy"].passed  # neither side has a view accuracy
    assert (
        failed_gates(gates) == []
        and str(GateCounts.of(gates)) == "7 passed, 0 failed, 5 not measured (none blocks)"
    )
    # a blocking policy blocks: robustness cannot be measured without perturbations
    strict = check_gates(_report(rob_mean=NotMeasured("no perturbation configured")), PARAMS.gates, None)
    assert failed_gates(strict) == [
        "robustness_mean_increase: not measured — no perturbation configured (threshold 0.25)"
    ]
    assert _by_name(strict)["robustness_mean_increase"].label.endswith("(blocks)")
    relaxed = gates_config(
        when_not_measured={**PARAMS.gates.when_not_measured, "robustness_mean_increase": "advisory"}
    )
    assert failed_gates(check_gates(_report(rob_mean=NotMeasured("none")), relaxed, None)) == []

    gates = check_gates(_report(ef_mae=NotMeasured("too few labelled studies")), PARAMS.gates, None)
    assert {g.name for g in gates if g.blocks} == {
        "ef_mae", "ef_mae_margin_over_random_init", "ef_mae_margin_over_mean_predictor",
    }  # fmt: skip
    assert failed_gates(gates)[0] == "ef_mae: not measured — too few labelled studies (threshold 10)"
    core = gates_config(when_not_measured={**PARAMS.gates.when_not_measured, "ef_mae": "advisory"})
    assert "ef_mae" in {g.name for g in check_gates(_report(ef_mae=NotMeasured("x")), core, None) if g.blocks}


def test_the_collapse_gate_needs_a_share_of_the_random_init_rank_and_the_floor() -> None:
    # the tiny preset's measured figures: served context encoder 23.6, random-init 64.6 -> bar 0.5 x 64.6
    row = _by_name(check_gates(_report(served_rank=23.6, random_rank=64.6), PARAMS.gates, None))[
        "effective_rank"
    ]
    assert (row.threshold, row.passed, row.blocks) == (pytest.approx(32.3), False, True)
    assert row.failure() == "effective_rank: 23.6 < 32.3"
    assert row.note == "max(0.5 × random-init 64.6, floor 4)"
    assert GateResult.from_json(row.to_json()) == row  # the ledger's row reads back as the same result
    passing = _by_name(check_gates(_report(served_rank=33.0, random_rank=64.6), PARAMS.gates, None))
    assert passing["effective_rank"].passed
    # a random-init encoder that is itself low-rank: the floor decides
    floor = _by_name(check_gates(_report(served_rank=3.5, random_rank=5.0), PARAMS.gates, None))[
        "effective_rank"
    ]
    assert (floor.threshold, floor.passed) == (4.0, False)
    # no random-init figure: the floor alone, and the note says so
    alone = check_gates(_report(served_rank=5.0, random_rank=NotMeasured("no clips")), PARAMS.gates, None)
    by = _by_name(alone)
    assert by["effective_rank"].passed and by["effective_rank"].threshold == 4.0
    assert by["effective_rank"].note == "floor 4 only: random-init RankMe not measured (no clips)"
    # the served figure not measured (or a report older than the monitor): it blocks, by its policy
    unmeasured = check_gates(_report(served_rank=NotMeasured("1 held-out clip")), PARAMS.gates, None)
    assert failed_gates(unmeasured) == ["effective_rank: not measured — 1 held-out clip (threshold 30)"]
    old = {k: v for k, v in _report().items() if k != "effective_rank"}
    assert [g.name for g in check_gates(old, PARAMS.gates, None) if g.blocks] == ["effective_rank"]


def test_configs_are_frozen_and_reject_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"gates\.ef_mae_maxx: unknown key"):
        load_params(REPO / "params.yaml", ["gates.ef_mae_maxx=3"])
    with pytest.raises(ValueError, match="unknown perturbation kind"):
        EvaluationConfig.model_validate(PARAMS.evaluate.model_dump() | {"robustness_kinds": ("fog",)})
    with pytest.raises(ConfigError, match=r"include 1\.0"):
        load_params(REPO / "params.yaml", ["probe.fractions=[0.01, 0.1]"])
    config = load_params(REPO / "params.yaml", ["gates.no_regression_tolerance.ef_mae=1"]).gates
    assert config.no_regression_tolerance.ef_mae == 1.0
    with pytest.raises(ValueError):
        config.ef_mae_max = 3.0  # type: ignore[misc]


def test_advisory_gates_are_reported_but_do_not_block() -> None:
    config = gates_config(advisory=("ef_mae_margin_over_random_init",))
    gates = check_gates(_report(ef_mae=9.0, random_init=9.0, mean_predictor=12.0), config, None)
    row = _by_name(gates)["ef_mae_margin_over_random_init"]
    assert row.passed is False and row.advisory is True and row.value == 0.0 and not row.blocks
    assert failed_gates(gates) == []  # nothing blocks
    assert _by_name(gates)["ef_mae"].advisory is False
    strict = check_gates(_report(ef_mae=9.0, random_init=9.0, mean_predictor=12.0), PARAMS.gates, None)
    assert failed_gates(strict) == ["ef_mae_margin_over_random_init: 0 < 0.05"]
    with pytest.raises(ValidationError, match="unknown gate"):
        GatesConfig.model_validate(PARAMS.gates.model_dump() | {"advisory": ("ef_mae_margn",)})


def test_every_gate_needs_a_policy_for_when_it_cannot_be_measured() -> None:
    policy = dict(PARAMS.gates.when_not_measured)
    policy.pop("view_accuracy")
    with pytest.raises(ValidationError, match="no policy: view_accuracy"):
        gates_config(when_not_measured=policy)
    with pytest.raises(ValidationError, match="unknown gate"):
        gates_config(when_not_measured=policy | {"view_accuracy": "block", "ef_maee": "block"})
