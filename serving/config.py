"""Typed config of params.yaml's `serving:` section, and the other sections serving reads.

Frozen and `extra="forbid"` like every section, so a mistyped key (`max_upload` for `max_upload_mb`) fails
with one line naming it. The API key itself is never a parameter: `api_key_env` names the environment
variable that holds it (unset or empty: no authentication).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.config import FeatureConfig


class ServingConfig(BaseModel):
    """params.yaml `serving:`: where it listens, what it accepts, how it batches and logs."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    host: str = "127.0.0.1"
    port: int = Field(3000, gt=0, lt=65536)
    production_log: str = "data/production"  # date=YYYY-MM-DD/<worker>-<batch>.parquet
    retain_clips: bool = False  # keep de-identified 112x112 clips under <production_log>/clips/
    workers: int = Field(1, ge=1)  # server processes; each loads the model and writes its own log files
    timeout_s: float = Field(120.0, gt=0)  # per request, queueing included
    torch_threads: int = Field(1, ge=0)  # per forward pass; other cores decode concurrent uploads (0: all)
    clips_per_video: int = Field(3, ge=1)  # evenly spaced clips whose outputs are averaged
    # input limits: past them a request gets 413 or 422 before the model sees it
    max_upload_mb: float = Field(100.0, gt=0)
    max_frames: int = Field(1000, gt=0)
    max_frame_pixels: int = Field(1024 * 1024, gt=0)
    min_frames: int = Field(16, ge=1)  # one clip's worth; fewer cannot show a heartbeat
    min_grey_std: float = Field(1.0, ge=0)  # below this spread of grey levels a video is blank
    api_key_env: str = "ECHOJEPA_API_KEY"
    # adaptive batching of the clip endpoint: clips per forward pass, and how long a queued clip may wait
    # before the server answers 503 (overloaded); the actual wait adapts to the traffic and is far shorter
    max_batch_size: int = Field(48, gt=1)
    max_latency_ms: int = Field(60000, gt=0)
    # production log: rows are written when this many are buffered, or this many seconds after the first
    flush_rows: int = Field(64, ge=1)
    flush_seconds: float = Field(1.0, gt=0)
    # Feast push of each flushed batch: "online_and_offline" also appends to the store's parquet source
    feast_push: Literal["off", "online", "online_and_offline"] = "online_and_offline"
    reload_seconds: float = Field(30.0, ge=0)  # how often the ledger is checked for a new production model

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def clips_dir(self) -> Path:
        return Path(self.production_log) / "clips"


@dataclass(frozen=True)
class ServingSettings:
    """Everything the service reads from one params file: its own section and the paths it shares with
    the release (ledger, model name), Feast (store root) and ingest (de-identification salt) sections."""

    params: Path
    serving: ServingConfig
    ledger: Path
    model_name: str
    features: FeatureConfig
    salt_file: Path


def load_serving_settings(params: str | Path = "params.yaml") -> ServingSettings:
    """Read a params file; defaults for absent sections.

    Raises:
        ValueError: one line naming a bad key, e.g. "params.yaml: serving.max_upload: unknown key".
    """
    path = Path(params)
    raw = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    try:
        serving = ServingConfig.model_validate(raw.get("serving") or {}, strict=False)
        features = FeatureConfig.model_validate(raw.get("features") or {}, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        section = "serving" if exc.title == ServingConfig.__name__ else "features"
        where = ".".join(str(p) for p in (section, *first["loc"]))
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ValueError(f"{path}: {where}: {reason}") from None
    release = raw.get("release") or {}
    ingest = raw.get("ingest") or {}
    return ServingSettings(
        params=path,
        serving=serving,
        ledger=Path(release.get("ledger", "registry/ledger.jsonl")),
        model_name=str(release.get("model_name", "echojepa")),
        features=features,
        salt_file=Path(ingest.get("salt_file", ".secrets/deid_salt")),
    )
