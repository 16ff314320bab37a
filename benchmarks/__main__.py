"""Run every benchmark (`make bench`); each writes JSON under reports/benchmarks/."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from benchmarks import bench_simulator

BENCHMARKS = {"simulator": bench_simulator.run}


def main() -> None:
    out = Path("reports/benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    summary = {"machine": {"cpus": bench_simulator.cpu_count(), "python": platform.python_version()}}
    for name, bench in BENCHMARKS.items():
        result = bench()
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        summary[name] = result
    (Path("reports") / "benchmarks.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
