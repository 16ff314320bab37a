"""Run every benchmark (`make bench`), or the named ones: `python -m benchmarks [NAME ...]`.

Each benchmark writes reports/benchmarks/NAME.json when it succeeds. reports/benchmarks.json holds
{"machine", "date", NAME: result, ...}: a run of some benchmarks merges into it, so earlier results of
the others are kept, and a benchmark that raises is recorded as {"error": ...} while the rest go on.
reports/benchmarks.md is the summary table (benchmarks.summary) of everything in the merged file; it is
also printed. The exit status is 1 when any benchmark of this run failed.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import platform
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.summary import markdown_table, summary_rows


def _lazy(module: str) -> Callable[[], dict]:
    """`run` of a bench module, imported when called (a broken import fails that benchmark only)."""

    def run() -> dict:
        return importlib.import_module(f"benchmarks.{module}").run()

    run.__name__ = f"{module}.run"
    return run


# the demo last: it is the slowest and uses the whole machine (servers, the DVC pipeline)
BENCHMARKS: dict[str, Callable[[], dict]] = {
    "simulator": _lazy("bench_simulator"),
    "realism": _lazy("bench_realism"),
    "shortcut_audit": _lazy("shortcut_audit"),
    "causes": _lazy("bench_causes"),
    "pretrain": _lazy("bench_pretrain"),
    "monitoring": _lazy("bench_monitoring"),
    "serving": _lazy("bench_serving"),
    "serving_limits": _lazy("serving_limits"),
    "ledger": _lazy("bench_ledger"),
    "burned_in": _lazy("bench_burned_in"),
    "demo": _lazy("bench_demo"),
}
REPORTS = Path("reports")


def machine() -> dict:
    """CPUs, Python, torch, the platform and the GPU when CUDA is available."""
    import torch

    from benchmarks.bench_simulator import cpu_count

    info = {
        "cpus": cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _load(path: Path) -> dict:
    """The merged results so far; {} when there are none or the file is unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _run_one(name: str) -> dict:
    print(f"== benchmark {name}", flush=True)
    try:
        result = BENCHMARKS[name]()
    except Exception as exc:  # recorded, and the run goes on with the next benchmark
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}
    if not isinstance(result, dict):
        return {"error": f"returned {type(result).__name__}, not a dict"}
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the named benchmarks (all when none are named), merge, write the JSON and the summary table."""
    names = list(sys.argv[1:] if argv is None else argv) or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; expected some of {list(BENCHMARKS)}")
    out = REPORTS / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    merged_path = REPORTS / "benchmarks.json"
    earlier = {k: v for k, v in _load(merged_path).items() if k not in ("machine", "date")}
    merged = {"machine": machine(), "date": dt.date.today().isoformat(), **earlier}
    failed = []
    for name in names:
        result = _run_one(name)
        if "error" in result:  # the last good reports/benchmarks/NAME.json stays
            failed.append(name)
            print(f"== benchmark {name} failed: {result['error']}", file=sys.stderr, flush=True)
        else:
            (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        merged[name] = result
        merged_path.write_text(json.dumps(merged, indent=2) + "\n")  # after each: a crash keeps the rest
    table = markdown_table(summary_rows(merged), merged["machine"], merged["date"])
    (REPORTS / "benchmarks.md").write_text(table)
    print(table)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
