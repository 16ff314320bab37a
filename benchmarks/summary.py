"""The headline measures of every benchmark as rows, and the markdown table `make bench` prints.

`summary_rows` reads the result dicts the bench_* modules return (as merged in reports/benchmarks.json)
and picks the figures each benchmark exists for, with the target where one was set: simulator time for
300 / 1,000 videos against 30 s / 2 min, each pixel-only EF estimator against 0.85 × the mean predictor's
MAE (the shortcut audit), the data pipeline against 3× the training rate, pretraining step
times and our step at the V-JEPA 2 reference configuration against its 1.47 s, serving latency, HTTP
overhead (≤ 1.25×) and the batching speed-up (≥ 2×) at the preset the targets name, the monitor's
detection rate, false alarms and delay, and the demo's wall time against 10 minutes. A missing key skips
its row; a benchmark that failed gives one row saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Row = dict[str, Any]
# (measure, value) or (measure, value, op, bound); a value that is not a number skips the row
Spec = tuple[str, Any] | tuple[str, Any, str, Any]
ORDER = (
    "simulator",
    "realism",
    "shortcut_audit",
    "causes",
    "pretrain",
    "monitoring",
    "serving",
    "serving_limits",
    "burned_in",
    "demo",
)
NOT_BENCHMARKS = {"machine", "date"}
_OPS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "<=": ("≤", lambda v, b: v <= b), ">=": ("≥", lambda v, b: v >= b),
    "<": ("<", lambda v, b: v < b), ">": (">", lambda v, b: v > b),
}  # fmt: skip


def _get(data: Any, *keys: str) -> Any:
    """data[k1][k2]…, or None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _numbers(values: Iterable[Any]) -> list[float]:
    return [v for v in map(_num, values) if v is not None]


def _pick(values: Iterable[Any], how: Callable[[list[float]], float]) -> float | None:
    """min / max / sum of the numbers among `values`; None when there are none."""
    numbers = _numbers(values)
    return how(numbers) if numbers else None


def _simulator(r: dict) -> list[Spec]:
    return [
        ("simulate 300 videos (s)", r.get("simulate_300_s"), "<=", r.get("simulate_300_target_s", 30)),
        ("simulate 1,000 videos (s)", r.get("simulate_1000_s"), "<=", r.get("simulate_1000_target_s", 120)),
        (f"videos/s ({r.get('workers', '?')} workers)", r.get("simulate_videos_per_s")),
        ("quality metrics p50 (ms)", _get(r, "quality", "quality_metrics_ms_p50")),
        ("`echojepa --help` (s)", r.get("cli_help_s_median"), "<", 1),
    ]


def _realism(r: dict) -> list[Spec]:
    nuisance = _get(r, "max_abs_r_ef_vs_nuisance_3000_studies")
    nuisance = nuisance if isinstance(nuisance, dict) else {}
    stats = r.get("realism") if isinstance(r.get("realism"), dict) else {}
    # "real" is EchoNet-Dynamic's [median, low, high]
    ranges = [(_num(_get(s, "simulated_median")), _get(s, "real")) for s in stats.values()]
    ranges = [(v, real) for v, real in ranges if v is not None and len(_numbers(real or [])) == 3]
    inside = sum(real[1] <= v <= real[2] for v, real in ranges) if ranges else None
    return [
        ("shortcut R², global image stats → EF", _get(r, "label", "shortcut_r2_global_stats"), "<", 0.2),
        ("max |r| EF vs nuisances", _pick(nuisance.values(), max), "<", 0.2),
        ("speckle share of tissue variance", r.get("speckle_share_of_tissue_variance"), ">", 0.5),
        (f"image statistics inside EchoNet's range (of {len(ranges)})", inside, ">=", len(ranges)),
    ]  # fmt: skip


def _causes(r: dict) -> list[Spec]:
    targets = r.get("targets") if isinstance(r.get("targets"), dict) else {}
    fa, right = targets.get("false_alarm_max", 0.05), targets.get("high_named_right_min", 0.9)
    stats = r.get("site_look_statistics") if isinstance(r.get("site_look_statistics"), dict) else {}
    spans = sum(bool(_get(s, "spans_real_range")) for s in stats.values()) if stats else None
    groups = [(v, _get(r, "by_variant", v)) for v in ("rendered", "mjpeg", "site")]
    groups.append(("site, inside EchoNet's ranges", r.get("site_inside_real_ranges")))
    specs: list[Spec] = [
        (f"site looks span EchoNet's range (statistics, of {len(stats)})", spans, ">=", len(stats))
    ]
    for name, g in groups:
        specs += [
            (f"{name}: clean false alarm", _get(g, "false_alarm"), "<=", fa),
            (
                f"{name}: right cause at high severity (worst kind)",
                _get(g, "worst_high_named_right"),
                ">=",
                right,
            ),
        ]
    return specs  # fmt: skip


def _shortcut_audit(r: dict) -> list[Spec]:
    bound = r.get("done_when_every_ratio_at_least", 0.85)
    estimators = _get(r, "audit", "estimators")
    estimators = estimators if isinstance(estimators, dict) else {}
    return [
        ("TEST videos", _get(r, "audit", "test_videos"), ">=", 150),
        *((f"{name}: pixel-only TEST EF MAE ÷ mean predictor's", _get(e, "ratio_to_mean_predictor"), ">=",
           bound) for name, e in estimators.items()),
        ("shuffled-label control: best ratio", _get(r, "shuffled_labels_control", "best_ratio"), ">=", bound),
    ]  # fmt: skip


def _pretrain(r: dict) -> list[Spec]:
    ref = r.get("vjepa2_reference_config")
    return [
        ("data pipeline ÷ training clips/s", r.get("pipeline_over_training"), ">=", 3),
        ("data pipeline clips/s", r.get("pipeline_clips_per_s")),
        ("JEPA tiny step (s)", _get(r, "jepa_tiny", "step_s")),
        ("JEPA tiny clips/s", _get(r, "jepa_tiny", "clips_per_s")),
        ("VideoMAE tiny step (s)", _get(r, "videomae_tiny", "step_s")),
        ("VideoMAE tiny clips/s", _get(r, "videomae_tiny", "clips_per_s")),
        ("JEPA step, V-JEPA 2 reference config (s)", _get(ref, "step_s"), "<=",
         _get(ref, "reference_step_s") or 1.47),
    ]  # fmt: skip


def _serving_limits(r: dict) -> list[Spec]:
    targets = r.get("targets") if isinstance(r.get("targets"), dict) else {}
    refusals = [b.get("seconds_to_refuse") for b in (r.get("bombs") or {}).values() if isinstance(b, dict)]
    concurrent = r.get("concurrent") if isinstance(r.get("concurrent"), dict) else {}
    return [
        ("peak RSS, worst accepted upload (MB)", r.get("peak_rss_mb_worst_accepted"), "<=",
         targets.get("peak_rss_mb_worst_accepted")),
        ("slowest bomb refusal, 413 (s)", max(refusals) if refusals else None, "<=",
         targets.get("seconds_to_refuse")),
        (f"peak RSS, {concurrent.get('uploads')} concurrent worst-case uploads (MB)",
         concurrent.get("peak_rss_mb")),
    ]  # fmt: skip


def _burned_in(r: dict) -> list[Spec]:
    return [
        ("burned-in cleaning: in-sector pixels changed, 50 text-free clips (max)",
         r.get("in_sector_changed_share_max"), "<=", 0.01),
        ("burned-in cleaning: served EF change, mean (points)", r.get("ef_change_mean"), "<=", 0.5),
        ("vendor-style cines: sector IoU with the fan (min)", r.get("vendor_sector_iou_min"), ">=", 0.95),
        ("vendor-style cines: in-sector pixels changed (max)", r.get("vendor_in_sector_changed_share_max")),
    ]  # fmt: skip


def _serving(r: dict) -> list[Spec]:
    targets = r.get("targets") if isinstance(r.get("targets"), dict) else {}
    ratio, speedup = targets.get("http_over_in_process_p50", 1.25), targets.get("clip_endpoint_speedup", 2)
    specs: list[Spec] = []
    for preset, m in r.items():
        if not isinstance(m, dict) or "predict_http" not in m:
            continue
        scored = preset == targets.get("preset", "small")  # the targets hold at one preset
        specs += [
            (f"{preset}: /predict over HTTP p50 (ms)", _get(m, "predict_http", "p50_ms")),
            (f"{preset}: /predict over HTTP p99 (ms)", _get(m, "predict_http", "p99_ms")),
            (f"{preset}: HTTP ÷ in-process p50", m.get("http_over_in_process_p50"), "<=",
             ratio if scored else None),
            (f"{preset}: batching speed-up, 16 clients ÷ 1", _get(m, "clip_endpoint", "speedup"), ">=",
             speedup if scored else None),
        ]  # fmt: skip
    return specs


def _monitoring(r: dict) -> list[Spec]:
    targets = r.get("targets") if isinstance(r.get("targets"), dict) else {}
    specs: list[Spec] = []
    for condition in ("served", "raw"):
        c = r.get(condition)
        if not isinstance(c, dict):
            continue
        kinds = [k for k in (c.get("windows") or {}).values() if isinstance(k, dict)]
        delays = [d for k in (c.get("delay") or {}).values() if isinstance(k, dict) for d in k.values()]
        flagged = (_get(s, "flagged") for k in kinds for s in k.values())
        specs += [
            (f"{condition}: right cause at high severity (worst kind)",
             _pick((_get(k, "high", "right_cause") for k in kinds), min), ">=",
             targets.get("high_right_cause_min", 0.95)),
            (f"{condition}: windows flagged (worst kind × severity)", _pick(flagged, min)),
            (f"{condition}: clean false alarm", _get(c, "clean", "false_alarm"), "<=",
             targets.get("clean_false_alarm_max", 0.05)),
            (f"{condition}: detection delay, median videos (worst)",
             _pick((_get(d, "median") for d in delays), max)),
            (f"{condition}: delay streams missed", _pick((_get(d, "missed") for d in delays), sum)),
        ]  # fmt: skip
    return specs


def _demo(r: dict) -> list[Spec]:
    mode = "re-run, unchanged stages reused" if r.get("rerun") else "fresh run"
    stages = r.get("stages") if isinstance(r.get("stages"), dict) else {}
    return [
        (f"total wall time (s), {mode}", r.get("total_s"), "<=", r.get("target_total_s", 600)),
        *((f"stage: {stage} (s)", seconds) for stage, seconds in stages.items()),
    ]


SUMMARIES: dict[str, Callable[[dict], list[Spec]]] = {
    "simulator": _simulator, "realism": _realism, "shortcut_audit": _shortcut_audit, "causes": _causes,
    "pretrain": _pretrain,
    "monitoring": _monitoring, "serving": _serving, "serving_limits": _serving_limits,
    "burned_in": _burned_in, "demo": _demo,
}  # fmt: skip


def _row(name: str, spec: Spec) -> Row | None:
    """A row when the value is a number; met compares it with the bound when there is one."""
    measure, value, op, bound = (*spec, None, None) if len(spec) == 2 else spec
    value, bound = _num(value), _num(bound)
    if value is None:
        return None
    row: Row = {"benchmark": name, "measure": measure, "value": value, "target": None, "met": None}
    if op is not None and bound is not None:
        symbol, check = _OPS[op]
        row |= {"target": f"{symbol} {bound:g}", "met": check(value, bound)}
    return row


def summary_rows(results: dict) -> list[Row]:
    """Rows {benchmark, measure, value, target, met} for every benchmark in `results`, known ones first."""
    names = [n for n in ORDER if n in results] + [n for n in results if n not in ORDER]
    rows: list[Row] = []
    for name in names:
        result = results[name]
        if name in NOT_BENCHMARKS or not isinstance(result, dict):
            continue
        failed = {"benchmark": name, "measure": "failed", "target": None, "met": False}
        if "error" in result:
            rows.append(failed | {"value": str(result["error"])})
        elif name in SUMMARIES:
            try:
                specs = SUMMARIES[name](result)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a shape nobody expected
                rows.append(failed | {"measure": "unreadable result", "value": repr(exc), "met": None})
                continue
            rows += [row for spec in specs if (row := _row(name, spec)) is not None]
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[Row], machine: dict, date: str) -> str:
    """The rows as a markdown table under a heading with the date and a line describing the machine."""
    described = " · ".join(f"{key} {value}" for key, value in machine.items()) or "unknown"
    lines = [f"## Benchmarks, {date}", "", f"Machine: {described}", ""]
    lines += ["| benchmark | measure | value | target | met |", "|---|---|---|---|---|"]
    for row in rows:
        met = {True: "yes", False: "**no**"}.get(row.get("met"), "–")
        cells = [_cell(row.get(key)) for key in ("benchmark", "measure", "value", "target")]
        lines.append("| " + " | ".join([*cells, met]) + " |")
    return "\n".join(lines) + "\n"
