"""Release gates over an evaluation report: absolute bounds, margins over the same run's baselines and no
regression against production. Every gate is `{name, value, threshold, passed}` (+ `note` when it explains
an "n/a"); names are stable, release tooling and the model card key on them.

A metric the data cannot support ("n/a": one view, no pediatric set, no reduced-EF study in TEST) passes
with a note, except the core EF gates: a candidate without an EF MAE cannot be released.
"""

from __future__ import annotations

from evaluation.config import GatesConfig

# name -> comparison the value must satisfy against the threshold
OPERATORS: dict[str, str] = {
    "ef_mae": "<=",
    "ef_mae_margin_over_random_init": ">=",
    "ef_mae_margin_over_mean_predictor": ">=",
    "view_accuracy": ">=",
    "robustness_mean_increase": "<=",
    "robustness_worst_increase": "<=",
    "pediatric_ef_mae": "<=",
    "reduced_ef_mae": "<=",
    "reduced_ef_auroc": ">=",
    "no_regression_ef_mae": "<=",
    "no_regression_view_accuracy": "<=",
}
GATE_NAMES = tuple(OPERATORS)
CORE_GATES = frozenset({"ef_mae", "ef_mae_margin_over_random_init", "ef_mae_margin_over_mean_predictor"})


def blocks(row: dict) -> bool:
    """Whether a gate row stops a release: failed and not advisory (advisory gates are shown to the
    reviewer, marked as such, and never block)."""
    return row.get("passed") is not True and not row.get("advisory")


def check_waiver(names: list[str] | tuple[str, ...], reason: str) -> None:
    """ValueError (one line) for a waiver naming an unknown gate or giving no reason."""
    unknown = sorted(set(names) - set(GATE_NAMES))
    if unknown:
        raise ValueError(f"cannot waive unknown gate(s) {', '.join(unknown)}; gates: {', '.join(GATE_NAMES)}")
    if not (reason or "").strip():
        raise ValueError("a gate waiver needs a reason (--waiver-reason)")


def waive(rows: list[dict], names: list[str] | tuple[str, ...], reason: str, by: str) -> list[dict]:
    """Gate rows with `names` marked advisory and `waived: {by, reason}` (a recorded exception: the run's
    initiator waives, a different reviewer still has to approve). Raises ValueError for an unknown name
    or an empty reason."""
    if not names:
        return rows
    check_waiver(names, reason)
    waived = {"by": by, "reason": reason.strip()}
    return [r | {"advisory": True, "waived": waived} if r["name"] in names else r for r in rows]


def result_label(row: dict) -> str:
    """How a gate row reads to a person: "pass", "FAIL", "fail (advisory)" or "fail (WAIVED by X: why)"."""
    if row.get("passed") is True:
        return "pass"
    if row.get("waived"):
        return f"fail (WAIVED by {row['waived'].get('by')}: {row['waived'].get('reason')})"
    return "fail (advisory)" if row.get("advisory") else "FAIL"


def scalar(value) -> float | str:
    """A metric as one number: the mean of a {mean, std} summary, a plain number, or its "n/a" string."""
    if isinstance(value, dict):
        return scalar(value.get("mean", "n/a"))
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else float(value)


def _dig(report: dict | None, *keys: str) -> float | str:
    node = report
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return "n/a"
        node = node[key]
    return scalar(node)


def _relative_gain(candidate: float | str, baseline: float | str) -> float | str:
    """1 − candidate / baseline: the share of the baseline's error the candidate removes."""
    if isinstance(candidate, str) or isinstance(baseline, str) or baseline <= 0:
        return "n/a"
    return 1.0 - candidate / baseline


def _difference(a: float | str, b: float | str) -> float | str:
    return "n/a" if isinstance(a, str) or isinstance(b, str) else a - b


def gate(name: str, value: float | str, threshold: float, note: str | None = None) -> dict:
    """One gate row; a string value is "n/a": it fails for the core EF gates and passes otherwise."""
    if isinstance(value, str):
        row = {"name": name, "value": value, "threshold": threshold, "passed": name not in CORE_GATES}
        default = "required: no EF result" if name in CORE_GATES else "not measurable on this data"
        row["note"] = note or default
        return row
    value = round(float(value), 4) + 0.0  # + 0.0: no "-0.0"
    passed = value <= threshold if OPERATORS[name] == "<=" else value >= threshold
    row = {"name": name, "value": value, "threshold": threshold, "passed": bool(passed)}
    if note:
        row["note"] = note
    return row


def check_gates(report: dict, gates: GatesConfig, production: dict | None) -> list[dict]:
    """Every release criterion of an evaluation report, in a fixed order (GATE_NAMES).

    Args:
        report: evaluate_candidate's report (metrics, baselines, subgroups).
        gates: the thresholds (params.yaml `gates:`).
        production: the production model's report, or None for the first release.
    """
    ef_mae = _dig(report, "metrics", "ef_mae")
    rows = [
        gate("ef_mae", ef_mae, gates.ef_mae_max),
        gate(
            "ef_mae_margin_over_random_init",
            _relative_gain(ef_mae, _dig(report, "baselines", "random_init", "ef_mae")),
            gates.ef_mae_margin_over_random_init,
        ),
        gate(
            "ef_mae_margin_over_mean_predictor",
            _relative_gain(ef_mae, _dig(report, "baselines", "mean_predictor", "ef_mae")),
            gates.ef_mae_margin_over_mean_predictor,
        ),
        gate("view_accuracy", _dig(report, "metrics", "view_accuracy"), gates.view_accuracy_min),
        gate(
            "robustness_mean_increase",
            _dig(report, "metrics", "robustness_mean_increase"),
            gates.robustness_mean_increase_max,
        ),
        gate(
            "robustness_worst_increase",
            _dig(report, "metrics", "robustness_worst_increase"),
            gates.robustness_worst_increase_max,
        ),
        gate("pediatric_ef_mae", _dig(report, "metrics", "pediatric_ef_mae"), gates.pediatric_mae_max),
        gate("reduced_ef_mae", _dig(report, "subgroups", "reduced_ef", "ef_mae"), gates.reduced_ef_mae_max),
        gate(
            "reduced_ef_auroc", _dig(report, "subgroups", "reduced_ef", "auroc"), gates.reduced_ef_auroc_min
        ),
    ]
    rows += _no_regression(report, gates, production)
    for row in rows:
        if row["name"] in gates.advisory:
            row["advisory"] = True
    return rows


def _no_regression(report: dict, gates: GatesConfig, production: dict | None) -> list[dict]:
    tolerance = gates.no_regression_tolerance
    if production is None:
        return [
            gate(name, "n/a (first release)", threshold, "no production model to compare with")
            for name, threshold in (
                ("no_regression_ef_mae", tolerance.ef_mae),
                ("no_regression_view_accuracy", tolerance.view_accuracy),
            )
        ]
    note = None
    ours = (report.get("test_set") or {}).get("sha256")
    theirs = (production.get("test_set") or {}).get("sha256")
    if ours and theirs and ours != theirs:
        note = "production was evaluated on a different TEST set; re-evaluate it on this one to compare"
    ef = _difference(_dig(report, "metrics", "ef_mae"), _dig(production, "metrics", "ef_mae"))
    view = _difference(_dig(production, "metrics", "view_accuracy"), _dig(report, "metrics", "view_accuracy"))
    return [
        gate("no_regression_ef_mae", ef, tolerance.ef_mae, note),  # candidate MAE − production MAE
        gate("no_regression_view_accuracy", view, tolerance.view_accuracy, note),  # production − candidate
    ]


def _number(x: float) -> str:
    return f"{x:.4g}"


def failed_gates(gates: list[dict]) -> list[str]:
    """One line per blocking failed gate, e.g. "ef_mae_margin_over_random_init: 0.01 < 0.05" (advisory
    gates are left out: they inform the reviewer, they don't stop a release)."""
    lines = []
    for row in gates:
        if not blocks(row):
            continue
        value, threshold = row["value"], row["threshold"]
        if isinstance(value, str) or isinstance(threshold, str):
            lines.append(f"{row['name']}: {value} (threshold {threshold})")
            continue
        # a failed "<=" gate sits above its threshold, a failed ">=" one below
        symbol = {"<=": ">", ">=": "<"}.get(OPERATORS.get(row["name"], ""), "vs")
        lines.append(f"{row['name']}: {_number(value)} {symbol} {_number(threshold)}")
    return lines
