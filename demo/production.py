"""The demo's production half, after the pipeline: release through the real approval path (two generated
demo keys: one registers, the other waives the failed gates and approves), serve, send clean then degraded
traffic, monitor both windows, and show the retrain run the drift event started."""

from __future__ import annotations

import time
from pathlib import Path

from config.params import Params
from demo.report import DemoLayout, ProductionOutcome

WAIVER_REASON = (
    "demo on the tiny CPU preset: 300 JEPA steps on 300 simulated videos do not reach the release bar "
    "(measured in issue 3); waived so that the release, serving and monitoring path can be shown"
)
TRAFFIC = 40  # videos per production window (monitoring.min_window is 30)
TRIGGER_WAIT_S = 30  # the trigger service evaluates events within seconds


def _iso(stamp) -> str:
    """A UTC time as `echojepa monitor --since/--until` takes it."""
    return stamp.isoformat(timespec="seconds").replace("+00:00", "")


def _traffic(console, params_file: Path, demo: DemoLayout, times: dict[str, float]) -> list:
    """Serve the production model and send the clean then the degraded videos; the window boundaries."""
    from datetime import UTC, datetime

    from demo.traffic import DEGRADATION, degrade, held_out_videos, send, serving

    clean = held_out_videos(demo.run.data.dataset_dir, TRAFFIC)
    degraded = degrade(clean, demo.traffic)
    start = time.perf_counter()
    with serving(console, params_file, demo.serve_log) as url:
        times["serve (start until ready)"] = time.perf_counter() - start
        start = time.perf_counter()
        stamps = [datetime.now(UTC)]
        for name, videos in (("clean", clean), (DEGRADATION, degraded)):
            sent = send(url, videos, name)
            console.print(
                f"[bold]traffic[/] {name}: {sent['ok']}/{sent['sent']} answered, "
                f"{sent['warned']} with quality warnings, mean EF {sent['mean_ef']:.1f}"
            )
            time.sleep(2.0)  # the production log flushes every serving.flush_seconds
            stamps.append(datetime.now(UTC))
        times[f"traffic (2 × {TRAFFIC} videos over HTTP)"] = time.perf_counter() - start
    return stamps


def run_production(console, params_file: Path, params: Params, times: dict[str, float]) -> ProductionOutcome:
    """Release (registered by the demo initiator's key; waiver and approval signed by the demo reviewer's
    and delivered through the CLI), serve, clean then degraded traffic, monitoring, the trigger."""
    from demo.keys import demo_keys, prepare_ledger
    from demo.release import apply_deployments, prefect_api, release, triggered_runs
    from demo.shell import monitor, secrets_init

    demo = DemoLayout(params.layout())
    start = time.perf_counter()
    secrets_init(console, params_file)  # the salt serving needs for its Feast push (it never makes one)
    keys = demo_keys()
    prepare_ledger(console, params_file, params.release, keys)
    api, server = prefect_api(console)
    try:
        deployments = apply_deployments(api)
        outcome = release(console, api, params_file, params, keys, WAIVER_REASON)
        times["release (retrain flow, approval, package)"] = time.perf_counter() - start
        iso = [_iso(s) for s in _traffic(console, params_file, demo, times)]
        start = time.perf_counter()
        reports = params.monitoring.reports_path()
        console.print(f"[bold]monitor[/] clean window {iso[0]} → {iso[1]}")
        first = monitor(console, api, params_file, reports, iso[0], iso[1])
        console.print(f"[bold]monitor[/] degraded window {iso[1]} → {iso[2]}")
        triggered_after = time.time()
        second = monitor(console, api, params_file, reports, iso[1], iso[2])
        runs: tuple[str, ...] = ()
        for _ in range(TRIGGER_WAIT_S):
            runs = triggered_runs(api, deployments["retrain"], triggered_after)
            if runs or not second.get("alert"):
                break
            time.sleep(1.0)
        times["monitor (2 windows) + trigger"] = time.perf_counter() - start
    finally:
        if server is not None:
            server.terminate()
    return ProductionOutcome(release=outcome, monitor=(first, second), triggered=runs, api=api)
