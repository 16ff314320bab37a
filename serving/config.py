"""Typed config of params.yaml's `serving:` section.

Frozen and `extra="forbid"` like every section, so a mistyped key (`max_upload` for `max_upload_mb`) fails
with one line naming it. The API key itself is never a parameter: `api_key_env` names the environment
variable that holds it (unset or empty: no authentication).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from features.config import FeatureConfig
from release.config import ReleaseConfig

if TYPE_CHECKING:
    from config.params import Params


class ServingConfig(BaseModel):
    """params.yaml `serving:`: where it listens, what it accepts, how it batches and logs."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    host: str
    port: int = Field(gt=0, lt=65536)
    production_log: str  # date=YYYY-MM-DD/<worker>-<batch>.parquet
    retain_clips: bool  # keep de-identified 112x112 clips under <production_log>/clips/
    workers: int = Field(ge=1)  # server processes; each loads the model and writes its own log files
    timeout_s: float = Field(gt=0)  # per request, queueing included
    torch_threads: int = Field(ge=0)  # per forward pass; other cores decode concurrent uploads (0: all)
    # input limits: past them a request gets 413 or 422 before the model sees it
    max_upload_mb: float = Field(gt=0)
    max_frames: int = Field(gt=0)
    max_frame_pixels: int = Field(gt=0)
    # decoded pixel data the header declares (frames x height x width x samples x bytes per sample), checked
    # before the first frame is decoded: a 16 MB MJPEG AVI can declare 1000 frames of 1024x1024 (1.5 GB)
    max_decoded_mb: float = Field(gt=0)
    min_frames: int = Field(ge=1)  # one clip's worth; fewer cannot show a heartbeat
    min_grey_std: float = Field(ge=0)  # below this spread of grey levels a video is blank
    api_key_env: str
    # listening on a non-loopback address without an API key is refused at start-up unless this is true
    allow_unauthenticated_public: bool
    # uploads decoded at once across every worker (each holds up to max_decoded_mb plus its quality
    # metrics' working memory); one more gets 429 with Retry-After (serving.inflight)
    max_in_flight: int = Field(ge=1)
    # adaptive batching of the clip endpoint: clips per forward pass, and how long a queued clip may wait
    # before the server answers 503 (overloaded); the actual wait adapts to the traffic and is far shorter
    max_batch_size: int = Field(gt=1)
    max_latency_ms: int = Field(gt=0)
    # production log: rows are written when this many are buffered, or this many seconds after the first
    flush_rows: int = Field(ge=1)
    flush_seconds: float = Field(gt=0)
    # a failed parquet write is tried this many times in all, waiting retry_seconds, then twice that, ...;
    # rows still unwritten go to <production_log>/dead-letter.jsonl, counted on /metrics
    log_write_attempts: int = Field(ge=1)
    log_retry_seconds: float = Field(ge=0)
    # Feast push of each flushed batch: "online_and_offline" also appends to the store's parquet source
    feast_push: Literal["off", "online", "online_and_offline"]
    reload_seconds: float = Field(ge=0)  # how often the ledger is checked for a new production model

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_decoded_bytes(self) -> int:
        return int(self.max_decoded_mb * 1024 * 1024)

    def clips_dir(self) -> Path:
        return Path(self.production_log) / "clips"


@dataclass(frozen=True)
class ServingSettings:
    """The sections of one params file that the service reads: its own, and the paths it shares with the
    release (ledger, witnesses, model name), Feast (store root), ingest (de-identification salt) and the probe
    protocol (clips per video, so the served model predicts as it was evaluated)."""

    params: Path
    serving: ServingConfig
    release: ReleaseConfig  # the ledger, its witnesses and the model name: what a model load verifies
    features: FeatureConfig
    salt_file: Path
    clips_per_video: int

    @property
    def ledger(self) -> Path:
        return Path(self.release.ledger)

    @property
    def model_name(self) -> str:
        return self.release.model_name

    @classmethod
    def from_params(cls, params: Params, path: str | Path) -> ServingSettings:
        return cls(
            params=Path(path), serving=params.serving, release=params.release, features=params.features,
            salt_file=Path(params.ingest.salt_file), clips_per_video=params.probe.clips_per_video,
        )  # fmt: skip


def load_serving_settings(path: str | Path = "params.yaml") -> ServingSettings:
    """The service's settings from a params file (config.params' one loader; ConfigError naming a bad key)."""
    from config.params import load_params

    return ServingSettings.from_params(load_params(path), path)
