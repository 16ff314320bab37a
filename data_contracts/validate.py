"""Validate a dataset against the manifest and video contracts; split it into accepted and quarantined rows.

A bad row is quarantined with the expectations it broke instead of failing the run, because real datasets
always hold a few; the run fails only when more than `max_quarantine_share` of the rows go, or when a
batch-level expectation (one that names no rows, e.g. an empty manifest) fails. Invariant: rows_in ==
accepted + quarantined, on disk too: the output folder is swapped in whole (data_contracts.outputs), so a
kill at any point leaves the previous FileList.csv + quarantine.csv pair or the new one.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from data_contracts.config import ContractConfig, ContractError
from data_contracts.facts import measure_facts
from data_contracts.manifest import load_manifest, manifest_expectations, manifest_frame, platform_defaults
from data_contracts.outputs import write_outputs
from data_contracts.videos import video_expectations, video_frame
from release.durable import replace_durably

QUARANTINE_COLUMN = "failed_expectations"


@dataclass
class ValidationOutcome:
    """What a validation decided; `failures` are one-line strings for a CLI or a flow's log."""

    rows_in: int
    accepted: int
    quarantined: int
    quarantined_share: float
    passed: bool
    failures: list[str] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    defaults_applied: list[str] = field(default_factory=list)


def _value(frames: dict[str, pd.DataFrame], suite: str, columns: tuple[str, ...], row: int) -> str:
    """The offending cell(s) of one row, shown next to the expectation in quarantine.csv."""

    def show(v: object) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:g}"
        return str(v)

    cells = [frames[suite].at[row, c] for c in columns]
    if len(columns) == 1:
        return show(cells[0])
    return " ".join(f"{c}={show(v)}" for c, v in zip(columns, cells, strict=True))


def validate_dataset(
    dataset_dir: Path,
    out_dir: Path,
    reports_dir: Path,
    config: ContractConfig,
    on_progress: Callable[[int, int], None] | None = None,
) -> ValidationOutcome:
    """Run both suites, write FileList.csv / quarantine.csv / facts.csv to out_dir and summary.json plus
    GX data docs to reports_dir.

    Args:
        on_progress: called as (videos measured, total) while video facts are measured.
    Raises:
        ContractError: the manifest is absent, unreadable or lacks required columns (one line), or out_dir
            is the dataset itself (its FileList.csv would be overwritten).
    """
    from data_contracts.gx_run import run_suites

    dataset_dir, out_dir, reports_dir = Path(dataset_dir), Path(out_dir), Path(reports_dir)
    if out_dir.resolve() == dataset_dir.resolve():
        raise ContractError(f"{out_dir}: the output folder must differ from the dataset folder")
    started = time.perf_counter()
    raw, added = load_manifest(dataset_dir)
    manifest = manifest_frame(raw, config)
    facts = measure_facts(dataset_dir, raw, config.workers, on_progress, config.max_decoded_mb)
    facts_s = time.perf_counter() - started
    frames = {"manifest": manifest, "videos": video_frame(facts, manifest, config)}
    batches = {
        "manifest": (frames["manifest"], manifest_expectations(config)),
        "videos": (frames["videos"], video_expectations(config)),
    }
    results, docs_index = run_suites(batches, reports_dir / "data_docs")

    reasons: dict[int, list[str]] = {}
    failures: list[str] = []
    for r in results:
        if r.success:
            continue
        if r.row_level:
            for row in r.rows:
                reasons.setdefault(row, []).append(f"{r.name}: {_value(frames, r.suite, r.columns, row)}")
            failures.append(f"{r.suite}: {r.name}: {r.unexpected_count} of {len(raw)} rows unexpected")
        else:
            failures.append(f"{r.suite}: {r.name} failed for the whole batch ({r.detail or 'no detail'})")
    batch_failed = any(not r.success and not r.row_level for r in results)
    rows_in = len(raw)
    bad = raw.index.isin(list(reasons))
    accepted, quarantined = raw[~bad], raw[bad].copy()
    quarantined[QUARANTINE_COLUMN] = [";".join(reasons[i]) for i in quarantined.index]
    share = len(quarantined) / rows_in if rows_in else 0.0
    if share > config.max_quarantine_share:
        failures.append(
            f"quarantined {len(quarantined)} of {rows_in} rows ({share:.1%}), "
            f"above the limit {config.max_quarantine_share:.1%}"
        )
    passed = share <= config.max_quarantine_share and not batch_failed

    reports_dir.mkdir(parents=True, exist_ok=True)
    tables = {"FileList.csv": accepted, "quarantine.csv": quarantined, "facts.csv": facts}
    write_outputs(out_dir, {name: t.to_csv(index=False).encode() for name, t in tables.items()})
    paths = {
        "filelist": out_dir / "FileList.csv",
        "quarantine": out_dir / "quarantine.csv",
        "facts": out_dir / "facts.csv",
        "summary": reports_dir / "summary.json",
        "data_docs": docs_index,
    }
    defaults = platform_defaults(pd.Series(dtype=str))
    summary = {
        "dataset": str(dataset_dir),
        "rows_in": rows_in,
        "accepted": len(accepted),
        "quarantined": len(quarantined),
        "quarantined_share": round(share, 6),
        "max_quarantine_share": config.max_quarantine_share,
        "passed": passed,
        "failures": failures,
        "defaults_applied": {c: "FileName" if c == "PatientID" else defaults[c] for c in added},
        "quarantine_reasons": dict(Counter(t.split(": ")[0] for ts in reasons.values() for t in ts)),
        "expectations": [
            {
                "suite": r.suite,
                "expectation": r.name,
                "success": r.success,
                "unexpected_count": r.unexpected_count,
                **({"detail": r.detail} if r.detail else {}),
            }
            for r in results
        ],
        "config": config.model_dump(mode="json"),
        "seconds": {"facts": round(facts_s, 2), "total": round(time.perf_counter() - started, 2)},
    }
    replace_durably(paths["summary"], (json.dumps(summary, indent=2, default=str) + "\n").encode())
    return ValidationOutcome(
        rows_in=rows_in,
        accepted=len(accepted),
        quarantined=len(quarantined),
        quarantined_share=share,
        passed=passed,
        failures=failures,
        paths=paths,
        defaults_applied=added,
    )
