"""Quality of the monitor's degradation detection on simulated production windows, and the cost of a run.

    python -m benchmarks monitoring          # writes reports/benchmarks/monitoring.json (+ a markdown table)

Pools of simulated clips are measured once and cached under reports/benchmarks/cache/: clean clips and
every perturbation kind × severity of the same clips (as ultrasound.fit_causes does), plus a separate pool
of clean clips from which each window draws its REFERENCE_CLIPS-clip reference (the packaged reference is
about that size). Two conditions: `served`, the clips as production sees them (written as MJPEG AVI and
decoded, monitoring.synthetic.as_served), and `raw`, the rendered frames the cause classifier was fitted
on. Windows of WINDOW clips are drawn from a pool without replacement; the detector
(monitoring.degradation: the shared cause classifier aggregated) decides on each. Reported per kind ×
severity: the share of windows flagged and flagged with the right cause; on clean windows the false-alarm
rate, of the detector and of Evidently's quality-metric drift check; and the detection delay: a stream of
WINDOW clean clips continues with degraded ones, the monitor looks at the last WINDOW clips after every
video, and the delay is the number of degraded videos seen before the right cause is flagged. Windows
resample finite pools, so they are not independent draws of the world: the rates carry the pools' sampling
error.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring.config import MonitoringConfig
from monitoring.degradation import clip_verdicts, detect_degradation, top_causes
from ultrasound.perturbations import PERTURBATION_KINDS, SEVERITIES

POOLS = {"served": (300, 150), "raw": (400, 150)}  # clips per condition: (perturbed pool, reference pool)
REFERENCE_CLIPS, WINDOW = 50, 200
WINDOWS, STREAMS, DRIFT_WINDOWS = 200, 40, 10
POOL_SEED, REFERENCE_SEED = 21, 22
CACHE = Path("reports/benchmarks/cache")
VARIANTS = (("clean", "none"), *((k, s) for k in PERTURBATION_KINDS for s in SEVERITIES))


def _pool(condition: str, n: int, seed: int, variants: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    from monitoring.synthetic import simulate_metrics

    path = CACHE / f"monitoring_{condition}_{n}_{seed}_{len(variants)}.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    frame = simulate_metrics(n, seed, variants, served=condition == "served")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return frame


class Detector:
    """detect_degradation with monitoring.* thresholds on top-named causes."""

    def __init__(self, config: MonitoringConfig, references: np.ndarray) -> None:
        self.config, self.references = config, references

    def reference(self, rng: np.random.Generator) -> list[str]:
        return list(rng.choice(self.references, REFERENCE_CLIPS, replace=False))

    def __call__(self, named, reference):
        c = self.config
        return detect_degradation(
            named,
            reference,
            floor=c.clean_false_alarm_rate,
            min_excess=c.degradation_share,
            alpha=c.degradation_alpha,
            cause_share=c.cause_share,
        )


def _window_rates(named: np.ndarray, kind: str, detect: Detector, rng) -> dict:
    flagged = right = 0
    for _ in range(WINDOWS):
        verdict = detect(list(rng.choice(named, WINDOW, replace=False)), detect.reference(rng))
        flagged += verdict.degraded
        right += verdict.degraded and verdict.causes[0] == kind
    return {"flagged": flagged / WINDOWS, "right_cause": right / WINDOWS}


def _delay(clean: np.ndarray, degraded: np.ndarray, kind: str, detect: Detector, rng) -> dict:
    """Degraded videos seen before the right cause is flagged, over STREAMS streams (missed: not within
    WINDOW videos, i.e. a whole window of degraded traffic)."""
    delays: list[int] = []
    for _ in range(STREAMS):
        stream = [*rng.choice(clean, WINDOW, replace=False), *rng.choice(degraded, WINDOW, replace=False)]
        reference = detect.reference(rng)
        for seen in range(1, WINDOW + 1):
            verdict = detect(stream[seen : seen + WINDOW], reference)
            if verdict.degraded and verdict.causes[0] == kind:
                delays.append(seen)
                break
    return {
        "median": float(np.median(delays)) if delays else None,
        "p90": float(np.percentile(delays, 90)) if delays else None,
        "missed": STREAMS - len(delays),
    }


def _drift_rates(pool: pd.DataFrame, references: pd.DataFrame, config: MonitoringConfig, rng) -> dict:
    """Share of windows where Evidently's quality-metric drift check (share of drifted metrics) fires."""
    from monitoring.drift import quality_drift_only

    out = {}
    for kind, severity in VARIANTS:
        rows = pool[(pool.kind == kind) & (pool.severity == severity)]
        n = DRIFT_WINDOWS * (3 if kind == "clean" else 1)
        fired = 0
        for _ in range(n):
            window = rows.sample(WINDOW, random_state=int(rng.integers(1 << 31)))
            reference = references.sample(REFERENCE_CLIPS, random_state=int(rng.integers(1 << 31)))
            fired += quality_drift_only(window, reference, config)
        out[f"{kind}/{severity}"] = {"windows": n, "drift_flagged": fired / n}
    return out


def _condition(condition: str, config: MonitoringConfig, with_drift: bool) -> dict:
    n_pool, n_reference = POOLS[condition]
    pool = _pool(condition, n_pool, POOL_SEED, VARIANTS)
    references = _pool(condition, n_reference, REFERENCE_SEED, VARIANTS[:1])
    pool = pool.assign(named=top_causes(clip_verdicts(pool)))
    reference_named = np.array(top_causes(clip_verdicts(references)), dtype=object)
    detect = Detector(config, reference_named)
    rng = np.random.default_rng(0)
    clean = pool[pool.kind == "clean"].named.to_numpy()
    result: dict = {"pool_clips": n_pool, "reference_pool_clips": n_reference, "windows": {}, "delay": {}}
    for kind in PERTURBATION_KINDS:
        for severity in SEVERITIES:
            named = pool[(pool.kind == kind) & (pool.severity == severity)].named.to_numpy()
            result["windows"].setdefault(kind, {})[severity] = _window_rates(named, kind, detect, rng)
            result["delay"].setdefault(kind, {})[severity] = _delay(clean, named, kind, detect, rng)
    result["clean"] = {
        "false_alarm": _window_rates(clean, "", detect, rng)["flagged"],
        "per_clip_flag_rate": float((clean != "").mean()),
        "reference_pool_flag_rate": float((reference_named != "").mean()),
        "per_clip_flagged_as": {k: int((clean == k).sum()) for k in PERTURBATION_KINDS},
    }
    result["quality_drift"] = _drift_rates(pool, references, config, rng) if with_drift else {}
    high = [result["windows"][k]["high"]["right_cause"] for k in PERTURBATION_KINDS]
    result["targets_met"] = {
        "high_right_cause_ge_95": min(high) >= 0.95,
        "clean_false_alarm_le_5": result["clean"]["false_alarm"] <= 0.05,
    }
    result["table_markdown"] = _table(result)
    return result


def _cost(config: MonitoringConfig) -> dict:
    """Seconds of one monitoring run (Evidently reports, workspace, files) on a WINDOW-row log."""
    import tempfile

    from monitoring.run import run_monitoring
    from monitoring.synthetic import synthetic_log, synthetic_reference, write_production_log

    pool = _pool("served", *POOLS["served"][:1], POOL_SEED, VARIANTS)
    clean = pool[pool.kind == "clean"]
    with tempfile.TemporaryDirectory(prefix="bench_monitoring_") as tmp:
        root = Path(tmp)
        synthetic_reference(clean.tail(REFERENCE_CLIPS), embedding_dim=96).to_parquet(
            root / "reference.parquet"
        )
        write_production_log(
            synthetic_log(clean.head(WINDOW), "2026-01-05T00:00", embedding_dim=96), root / "log"
        )
        config = config.model_copy(update={"workspace": str(root / "ws"), "reports": str(root / "reports")})
        seconds = []
        for _ in range(2):  # the first run also creates the workspace project
            start = time.perf_counter()
            run_monitoring(
                config,
                since="2026-01-05",
                until="2026-01-06",
                log_root=root / "log",
                reference_path=root / "reference.parquet",
            )
            seconds.append(round(time.perf_counter() - start, 1))
    return {"rows": WINDOW, "embedding_dim": 96, "seconds": seconds, "load_average_1min": os.getloadavg()[0]}


def _table(result: dict) -> str:
    lines = [
        "| kind | severity | windows flagged | right cause | delay median (p90) | quality drift fired |",
        "|---|---|---|---|---|---|",
    ]
    drift = result["quality_drift"]
    for kind, by_severity in result["windows"].items():
        for severity, r in by_severity.items():
            d = result["delay"][kind][severity]
            delay = "–" if d["median"] is None else f"{d['median']:.0f} ({d['p90']:.0f})"
            delay += f", {d['missed']} missed" if d["missed"] else ""
            fired = drift.get(f"{kind}/{severity}", {}).get("drift_flagged")
            fired_text = "–" if fired is None else f"{fired:.0%}"
            rates = f"{r['flagged']:.1%} | {r['right_cause']:.1%}"
            lines.append(f"| {kind} | {severity} | {rates} | {delay} | {fired_text} |")
    clean_drift = drift.get("clean/none", {}).get("drift_flagged")
    lines.append(
        f"| clean | – | false alarm {result['clean']['false_alarm']:.1%} | – | – | "
        f"{'–' if clean_drift is None else f'{clean_drift:.0%}'} |"
    )
    return "\n".join(lines)


def run(config: MonitoringConfig | None = None) -> dict:
    config = config or MonitoringConfig()
    start = time.perf_counter()
    conditions = {"served": _condition("served", config, True), "raw": _condition("raw", config, False)}
    return {
        "date": dt.date.today().isoformat(),
        "setup": {
            "reference_clips": REFERENCE_CLIPS,
            "window": WINDOW,
            "windows_per_condition": WINDOWS,
            "streams_per_condition": STREAMS,
            "thresholds": config.model_dump(
                include={"clean_false_alarm_rate", "degradation_share", "degradation_alpha", "cause_share"}
            ),
        },
        "targets": {"high_right_cause_min": 0.95, "clean_false_alarm_max": 0.05},
        **conditions,
        "cost": _cost(config),
        "seconds": round(time.perf_counter() - start, 1),
    }
