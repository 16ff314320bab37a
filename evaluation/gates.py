"""Release gates over an evaluation report: absolute bounds, margins over the same run's baselines and no
regression against production, all in one table (`GATES`). Each check gives a `GateResult`; names are
stable, release tooling and the model card key on them.

A metric the data cannot support (`NotMeasured`: one view, no pediatric set, no reduced-EF study in TEST) is
never a pass: its gate reads "not measured — reason" and, by its policy in params.yaml
(`gates.when_not_measured`), either blocks the release or is advisory. The no-regression gates of a first
release are advisory by rule; the core EF gates block. The collapse gate (`effective_rank`, model.collapse)
compares the served encoder with the same run's random-init encoder and an absolute floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from evaluation.config import GatesConfig
from evaluation.results import Measured, NotMeasured, dig, measured, value_of


class Direction(StrEnum):
    AT_MOST = "<="
    AT_LEAST = ">="


@dataclass(frozen=True)
class Waiver:
    """A recorded exception: who waived the gate and why (a different reviewer still has to approve)."""

    by: str
    reason: str


@dataclass(frozen=True)
class GateResult:
    """One release criterion evaluated on one candidate."""

    name: str
    value: Measured
    threshold: float
    direction: Direction
    passed: bool
    advisory: bool = False  # shown to the reviewer, never blocks
    waived: Waiver | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.passed and not measured(self.value):
            raise ValueError(f"gate {self.name}: a metric that was not measured cannot pass")

    @property
    def measured(self) -> bool:
        return measured(self.value)

    @property
    def blocks(self) -> bool:
        """Not passed (failed, or not measured) and not advisory: the one rule that stops a release."""
        return not self.passed and not self.advisory

    @property
    def label(self) -> str:
        """How the result reads to a person: "pass", "FAIL", "fail (advisory)", "fail (WAIVED by X: why)",
        "not measured — reason (advisory)" or "NOT MEASURED — reason (blocks)"."""
        if self.passed:
            return "pass"
        if not self.measured:
            return f"not measured — {self.value.reason} ({'advisory' if self.advisory else 'blocks'})"
        if self.waived is not None:
            return f"fail (WAIVED by {self.waived.by}: {self.waived.reason})"
        return "fail (advisory)" if self.advisory else "FAIL"

    def failure(self) -> str:
        """One line, e.g. "ef_mae_margin_over_random_init: 0.01 < 0.05" or "view_accuracy: not measured —
        fewer than two views"."""
        if not measured(self.value):
            return f"{self.name}: not measured — {self.value.reason} (threshold {self.threshold:.4g})"
        symbol = ">" if self.direction is Direction.AT_MOST else "<"  # a failed "<=" gate sits above
        return f"{self.name}: {self.value:.4g} {symbol} {self.threshold:.4g}"

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name, "value": self.value if measured(self.value) else None,
            "threshold": self.threshold, "direction": str(self.direction), "passed": self.passed,
            "advisory": self.advisory, "blocks": self.blocks,
        }  # fmt: skip
        if not measured(self.value):
            row["reason"] = self.value.reason
        if self.waived is not None:
            row["waived"] = {"by": self.waived.by, "reason": self.waived.reason}
        if self.note:
            row["note"] = self.note
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> GateResult:
        """A gate row of evaluation.json or the ledger (rows written before `direction` existed take the
        table's)."""
        name = str(row["name"])
        spec = GATES_BY_NAME.get(name)
        direction = row.get("direction") or (spec.direction if spec else Direction.AT_MOST)
        value = value_of(row) if row.get("value") is not None else NotMeasured(row.get("reason") or "n/a")
        waived = row.get("waived")
        return cls(
            name=name, value=value, threshold=float(row["threshold"]), direction=Direction(direction),
            passed=row.get("passed") is True and measured(value),  # a row claiming an unmeasured pass: not
            advisory=bool(row.get("advisory")),
            waived=Waiver(str(waived.get("by")), str(waived.get("reason"))) if waived else None,
            note=str(row.get("note") or ""),
        )  # fmt: skip


Report = dict[str, Any]


def _relative_gain(candidate: Measured, baseline: Measured) -> Measured:
    """1 − candidate / baseline: the share of the baseline's error the candidate removes."""
    if not measured(candidate):
        return candidate
    if not measured(baseline):
        return baseline
    return NotMeasured("the baseline's error is zero") if baseline <= 0 else 1.0 - candidate / baseline


def _regression(report: Report, production: Report | None, metric: str, worse: int) -> Measured:
    """How much worse than production the candidate is (`worse` = +1: higher is worse; -1: lower is)."""
    if production is None:
        return NotMeasured("first release: no production model to compare with")
    ours, theirs = dig(report, "metrics", metric), dig(production, "metrics", metric)
    for value in (ours, theirs):
        if not measured(value):
            return value
    return worse * (ours - theirs)


def _effective_rank_threshold(gates: GatesConfig, report: Report) -> tuple[float, str]:
    """The collapse gate's bar: max(share × the random-init encoder's RankMe, the floor), and how it was
    set (the gate row's note); the floor alone when the random-init figure is missing."""
    floor, share = gates.min_effective_rank, gates.min_effective_rank_share
    baseline = dig(report, "effective_rank", "random_init", "tokens")
    if not measured(baseline):
        return floor, f"floor {floor:g} only: random-init RankMe not measured ({baseline.reason})"
    return max(floor, share * baseline), f"max({share:g} × random-init {baseline:.4g}, floor {floor:g})"


@dataclass(frozen=True)
class GateSpec:
    """A row of the gate table: how to read the value from a report and the threshold from params (or, for
    a bar relative to a baseline of the same report, from both: `relative_threshold`, which also says how)."""

    name: str
    direction: Direction
    threshold: Callable[[GatesConfig], float]
    value: Callable[[Report, Report | None], Measured]
    core: bool = False  # an unmeasurable core gate fails (no EF result, no release)
    metric: str = ""  # the report path, for people
    relative_threshold: Callable[[GatesConfig, Report], tuple[float, str]] | None = None


GATES: tuple[GateSpec, ...] = (
    GateSpec("ef_mae", Direction.AT_MOST, lambda g: g.ef_mae_max,
             lambda r, p: dig(r, "metrics", "ef_mae"), core=True, metric="metrics.ef_mae"),
    GateSpec("ef_mae_margin_over_random_init", Direction.AT_LEAST, lambda g: g.ef_mae_margin_over_random_init,
             lambda r, p: _relative_gain(dig(r, "metrics", "ef_mae"),
                                         dig(r, "baselines", "random_init", "ef_mae")),
             core=True, metric="1 − metrics.ef_mae / baselines.random_init.ef_mae"),
    GateSpec("ef_mae_margin_over_mean_predictor", Direction.AT_LEAST,
             lambda g: g.ef_mae_margin_over_mean_predictor,
             lambda r, p: _relative_gain(dig(r, "metrics", "ef_mae"),
                                         dig(r, "baselines", "mean_predictor", "ef_mae")),
             core=True, metric="1 − metrics.ef_mae / baselines.mean_predictor.ef_mae"),
    GateSpec("view_accuracy", Direction.AT_LEAST, lambda g: g.view_accuracy_min,
             lambda r, p: dig(r, "metrics", "view_accuracy"), metric="metrics.view_accuracy"),
    GateSpec("robustness_mean_increase", Direction.AT_MOST, lambda g: g.robustness_mean_increase_max,
             lambda r, p: dig(r, "metrics", "robustness_mean_increase"), metric="robustness.mean_increase"),
    GateSpec("robustness_worst_increase", Direction.AT_MOST, lambda g: g.robustness_worst_increase_max,
             lambda r, p: dig(r, "metrics", "robustness_worst_increase"), metric="robustness.worst_increase"),
    GateSpec("pediatric_ef_mae", Direction.AT_MOST, lambda g: g.pediatric_mae_max,
             lambda r, p: dig(r, "metrics", "pediatric_ef_mae"), metric="pediatric.ef_mae"),
    GateSpec("reduced_ef_mae", Direction.AT_MOST, lambda g: g.reduced_ef_mae_max,
             lambda r, p: dig(r, "subgroups", "reduced_ef", "ef_mae"), metric="subgroups.reduced_ef.ef_mae"),
    GateSpec("reduced_ef_auroc", Direction.AT_LEAST, lambda g: g.reduced_ef_auroc_min,
             lambda r, p: dig(r, "subgroups", "reduced_ef", "auroc"), metric="subgroups.reduced_ef.auroc"),
    GateSpec("no_regression_ef_mae", Direction.AT_MOST, lambda g: g.no_regression_tolerance.ef_mae,
             lambda r, p: _regression(r, p, "ef_mae", +1), metric="candidate − production EF MAE"),
    GateSpec("no_regression_view_accuracy", Direction.AT_MOST,
             lambda g: g.no_regression_tolerance.view_accuracy,
             lambda r, p: _regression(r, p, "view_accuracy", -1),
             metric="production − candidate view accuracy"),
    # the collapse monitor: RankMe of the served encoder's tokens (centred per position) on held-out clips
    GateSpec("effective_rank", Direction.AT_LEAST, lambda g: g.min_effective_rank,
             lambda r, p: dig(r, "effective_rank", "served", "tokens"), metric="effective_rank.served.tokens",
             relative_threshold=_effective_rank_threshold),
)  # fmt: skip
GATES_BY_NAME = {g.name: g for g in GATES}
GATE_NAMES = tuple(GATES_BY_NAME)


def evaluate_gate(
    spec: GateSpec, value: Measured, threshold: float, note: str = "", when_not_measured: str = "block"
) -> GateResult:
    """One gate's result. A NotMeasured value never passes: the gate blocks, or (policy "advisory", never
    for a core EF gate) it is shown to the reviewer without blocking."""
    if not measured(value):
        advisory = when_not_measured == "advisory" and not spec.core
        note = note or ("required: no EF result" if spec.core else "")
        return GateResult(spec.name, value, threshold, spec.direction, False, advisory=advisory, note=note)
    value = round(float(value), 4) + 0.0  # + 0.0: no "-0.0"
    ok = value <= threshold if spec.direction is Direction.AT_MOST else value >= threshold
    return GateResult(spec.name, value, threshold, spec.direction, bool(ok), note=note)


def check_gates(report: Report, gates: GatesConfig, production: Report | None) -> list[GateResult]:
    """Every release criterion of an evaluation report, in the table's order.

    Args:
        report: evaluate_candidate's report (metrics, baselines, subgroups, test_set).
        gates: the thresholds (params.yaml `gates:`).
        production: the production model's evaluation.json, or None for the first release.
    """
    note = ""
    ours = (report.get("test_set") or {}).get("sha256")
    theirs = ((production or {}).get("test_set") or {}).get("sha256")
    if ours and theirs and ours != theirs:
        note = "production was evaluated on a different TEST set; re-evaluate it on this one to compare"
    results = []
    for spec in GATES:
        regression = spec.name.startswith("no_regression")
        policy = "advisory" if regression and production is None else gates.when_not_measured[spec.name]
        row_note, threshold = (note if regression else ""), spec.threshold(gates)
        if spec.relative_threshold is not None:
            threshold, row_note = spec.relative_threshold(gates, report)
        result = evaluate_gate(spec, spec.value(report, production), threshold, row_note, policy)
        results.append(replace(result, advisory=True) if spec.name in gates.advisory else result)
    return results


def rows(results: Sequence[GateResult | dict]) -> list[GateResult]:
    """Gate results from evaluation.json / ledger rows or GateResults."""
    return [r if isinstance(r, GateResult) else GateResult.from_json(r) for r in results]


def failed_gates(results: Sequence[GateResult | dict]) -> list[str]:
    """One line per blocking failed gate (advisory gates inform the reviewer; they don't stop a release)."""
    return [r.failure() for r in rows(results) if r.blocks]


@dataclass(frozen=True)
class GateCounts:
    """How a candidate's gates read in one line: passed, failed, not measured — counted apart, because a
    gate that could not be measured is not a pass — and how many of those block."""

    passed: int = 0
    failed: int = 0
    not_measured: int = 0
    blocking: int = 0
    names: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, results: Sequence[GateResult | dict]) -> GateCounts:
        results = rows(results)
        return cls(
            passed=sum(r.passed for r in results),
            failed=sum(not r.passed and r.measured for r in results),
            not_measured=sum(not r.measured for r in results),
            blocking=sum(r.blocks for r in results),
            names=[r.name for r in results if not r.passed],
        )  # fmt: skip

    def __str__(self) -> str:
        """E.g. "7 passed, 0 failed, 4 not measured (1 blocks the release)"."""
        verb = "blocks" if self.blocking == 1 else "block"
        blocking = f" ({self.blocking} {verb} the release)" if self.blocking else " (none blocks)"
        return f"{self.passed} passed, {self.failed} failed, {self.not_measured} not measured{blocking}"
