"""Simulated clip metrics (clean and gain-drifted copies of the same clips), a reference and production
logs in the serving format, written by monitoring.synthetic: no model, no server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.params import load_params
from monitoring.config import MonitoringConfig
from monitoring.synthetic import simulate_metrics, synthetic_log, synthetic_reference, write_production_log
from tests.configs import section
from tests.packaged import write_params

CLIPS = 48  # 24 for the reference, 24 for the windows; ~10 s on 2 cores
CLEAN_DAY, DEGRADED_DAY = "2026-01-05", "2026-01-06"
LABEL_ERROR = 4.0  # EF points between each delayed label and its prediction


@pytest.fixture(scope="session")
def clip_metrics() -> pd.DataFrame:
    """Quality metrics of CLIPS simulated clips, clean and with high gain drift (kind column)."""
    return simulate_metrics(CLIPS, seed=3, variants=(("clean", "none"), ("gain_drift", "high")))


def clean(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics[metrics.kind == "clean"].reset_index(drop=True)


def degraded(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics[metrics.kind == "gain_drift"].reset_index(drop=True)


def reference_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The reference's clips (the first half), never reused in a window."""
    return clean(metrics).iloc[: CLIPS // 2]


def window_rows(metrics: pd.DataFrame, kind: str = "clean") -> pd.DataFrame:
    """The other half: clean, or the gain-drifted copies of the same clips."""
    rows = clean(metrics) if kind == "clean" else degraded(metrics)
    return rows.iloc[CLIPS // 2 :].reset_index(drop=True)


def config_under(root: Path) -> MonitoringConfig:
    """Thresholds of params.yaml, with the workspace and reports under `root` and a window of 24 clips."""
    folders = {"workspace": str(root / "workspace"), "reports": str(root / "reports")}
    return section("monitoring", **folders, min_window=20)


@pytest.fixture
def monitored(tmp_path: Path, clip_metrics: pd.DataFrame) -> Path:
    """tmp_path as `write_monitored` fills it."""
    return write_monitored(tmp_path, clip_metrics)


def write_monitored(tmp_path: Path, clip_metrics: pd.DataFrame) -> Path:
    """reference.parquet, a production log holding a clean day then a gain-drift day (same model version,
    embeddings shifted on the degraded day), and a params.yaml pointing at them, under tmp_path."""
    synthetic_reference(reference_rows(clip_metrics), seed=0).to_parquet(tmp_path / "reference.parquet")
    log = tmp_path / "production"
    day_one = synthetic_log(window_rows(clip_metrics), f"{CLEAN_DAY}T00:00", seed=1)
    write_production_log(day_one, log)
    write_labels(day_one, tmp_path)
    drifted = synthetic_log(
        window_rows(clip_metrics, "gain_drift"), f"{DEGRADED_DAY}T00:00", seed=2, embedding_shift=1.0
    )
    write_production_log(drifted, log)
    write_params(
        tmp_path / "params.yaml",
        monitoring=config_under(tmp_path).model_dump(mode="json"),
        serving={"production_log": str(log)},
        features={"root": str(tmp_path / "features")},
    )
    return tmp_path


def write_labels(served: pd.DataFrame, root: Path) -> None:
    """EF measured a day later for every study served: predicted EF ± 4 alternately (an MAE of 4)."""
    from features.sources import sync_sources

    offset = np.where(np.arange(len(served)) % 2 == 0, LABEL_ERROR, -LABEL_ERROR)
    manifest = pd.DataFrame(
        {
            "FileName": served.study_id,
            "EF": served.ef + offset,
            "Split": "PRODUCTION",
            "Device": served.device,
        }
    )
    manifest.to_csv(root / "labels.csv", index=False)
    sync_sources(root / "features", root / "labels.csv", label_time=pd.Timestamp(DEGRADED_DAY, tz="UTC"))


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory: pytest.TempPathFactory, clip_metrics: pd.DataFrame) -> tuple[Path, list]:
    """A clean day's run, then a gain-drift day's run, into one workspace (the dashboard then has two
    points per panel): (root, [clean result, degraded result])."""
    from monitoring.run import run_monitoring

    root = write_monitored(tmp_path_factory.mktemp("two_runs"), clip_metrics)
    results = [
        run_monitoring(
            load_params(root / "params.yaml"),
            since=day,
            until=pd.Timestamp(day) + pd.Timedelta(days=1),
            reference_path=root / "reference.parquet",
        )
        for day in (CLEAN_DAY, DEGRADED_DAY)
    ]
    return root, results


def flow_runs(deployment_id) -> list:
    """Flow runs of one deployment on the current Prefect API."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def drift_deployments(repo: Path) -> dict:
    """prefect.yaml's deployments applied to the current API (as `orchestrator up` builds them), plus a
    `sentinel` deployment triggered by every drift event (no cooldown) that records the event's resource
    and causes: {name: deployment id}. Run from `repo` (entrypoints are relative)."""
    from prefect import flow
    from prefect.events import DeploymentEventTrigger

    from flows.orchestrator import deployments_from_yaml

    ids = {d.name: d.apply() for d in deployments_from_yaml(repo / "prefect.yaml")}

    @flow(name="drift-sentinel")
    def sentinel(resource: str = "", causes: list[str] | None = None) -> None:
        """Fires on every drift event: once it ran n times, n events were evaluated."""

    trigger = DeploymentEventTrigger(
        expect={"echojepa.drift.detected"},
        parameters={"resource": "{{ event.resource.id }}", "causes": "{{ event.payload.causes }}"},
    )
    ids["sentinel"] = sentinel.to_deployment(name="sentinel", triggers=[trigger]).apply()
    return ids
