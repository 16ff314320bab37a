"""Run every benchmark (`make bench`); each writes JSON under reports/benchmarks/."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from benchmarks import bench_monitoring, bench_pretrain, bench_realism, bench_serving, bench_simulator

BENCHMARKS = {
    "simulator": bench_simulator.run,
    "realism": bench_realism.run,
    "pretrain": bench_pretrain.run,
    "monitoring": bench_monitoring.run,
    "serving": bench_serving.run,
}


def main() -> None:
    """`python -m benchmarks [NAME ...]`: run the named benchmarks, or all of them."""
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; expected some of {list(BENCHMARKS)}")
    out = Path("reports/benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    summary = {"machine": {"cpus": bench_simulator.cpu_count(), "python": platform.python_version()}}
    for name in names:
        result = BENCHMARKS[name]()
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        summary[name] = result
    (Path("reports") / "benchmarks.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
