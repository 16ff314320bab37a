"""Typed values of an evaluation: a measured summary over probe seeds, or `NotMeasured(reason)`.

Metrics that could not be measured used to be strings ("n/a (...)") inside float fields, so every reader had
to guess. Now a metric is either a number / summary or a `NotMeasured`, which reads "n/a — reason" in
reports and is `{"value": null, "reason": ...}` in JSON. A measured summary is `{"value": v, "mean": m,
"std": s}`: `value` is what the served model scores (the ensemble of the seeds' probes), `mean ± std` the
spread of the single probes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NotMeasured:
    """A metric the data or the configuration cannot support, with the reason."""

    reason: str

    def __str__(self) -> str:
        return f"n/a — {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"value": None, "reason": self.reason}


Measured = float | NotMeasured


def summary(per_seed: Iterable[float], served: float | None = None) -> dict[str, float]:
    """`{"value", "mean", "std"}` of per-seed values; `value` is the served (ensemble) one, the mean when
    no ensemble value is given."""
    values = np.asarray(list(per_seed), dtype=float)
    mean = float(values.mean())
    return {"value": mean if served is None else float(served), "mean": mean, "std": float(values.std())}


def value_of(node: Any) -> Measured:
    """A metric as one number (the served value of a summary, a plain number) or its NotMeasured."""
    if isinstance(node, NotMeasured):
        return node
    if node is None:
        return NotMeasured("missing from the report")
    if isinstance(node, dict):
        if "value" in node:
            if node["value"] is None:
                return NotMeasured(str(node.get("reason") or "not measured"))
            return float(node["value"])
        if "mean" in node:
            return float(node["mean"])
        return NotMeasured("not a metric")
    if isinstance(node, bool):
        return NotMeasured("not a metric")
    if isinstance(node, int | float | np.floating | np.integer):
        number = float(node)
        return number if math.isfinite(number) else NotMeasured("not finite")
    return NotMeasured(f"not a metric: {node!r}")


def dig(report: dict | None, *keys: str) -> Measured:
    """The metric at `report[k1][k2]...`, NotMeasured when a key is absent."""
    node: Any = report
    for key in keys:
        if isinstance(node, NotMeasured):
            return node
        if not isinstance(node, dict) or key not in node:
            return NotMeasured(f"no {'.'.join(keys)} in the report")
        node = node[key]
    return value_of(node)


def measured(value: Measured) -> bool:
    return not isinstance(value, NotMeasured)


def not_measured(node: Any) -> NotMeasured | None:
    """The NotMeasured a report node stands for (the object, or its JSON form), else None."""
    if isinstance(node, NotMeasured):
        return node
    if isinstance(node, dict) and set(node) == {"value", "reason"} and node["value"] is None:
        return NotMeasured(str(node["reason"]))
    return None


def render(value: Any, digits: int = 4) -> str:
    """A metric for people: "0.8731" or "n/a — fewer than two views"."""
    value = value_of(value) if not isinstance(value, str) else value
    if isinstance(value, NotMeasured | str):
        return str(value)
    return f"{value:.{digits}g}"


def jsonable(obj: Any) -> Any:
    """Report objects -> JSON types: NotMeasured -> {value: null, reason}, numpy scalars -> numbers,
    tuples -> lists, objects with `to_json` -> their JSON; NaN and infinity (alone or as a summary's
    value) become NotMeasured("not finite")."""
    if isinstance(obj, NotMeasured) or hasattr(obj, "to_json"):
        return jsonable(obj.to_json())
    if isinstance(obj, dict):
        value = obj.get("value")
        if isinstance(value, float | np.floating) and not math.isfinite(value):  # a summary of NaN
            return NotMeasured("not finite").to_json()
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        number = float(obj)
        return number if math.isfinite(number) else NotMeasured("not finite").to_json()
    return obj
