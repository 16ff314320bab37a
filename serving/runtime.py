"""The serving process's state without BentoML: the production model (reloaded when the ledger moves),
the API key, the production log with its Feast sink, and what each prediction leaves behind.

A process with no production model still starts: `predictor` is None and `unavailable_reason` says what to
do, and every `reload_seconds` the ledger is read again, so a model released (or rolled back) while the
service runs is served without a restart. Every load verifies the ledger and the model folder against its
release (serving.production); a model that is refused, or fails to load, never replaces a working one:
the service keeps serving the last verified production model and logs why, and with none loaded yet it
answers 503 with the refusal's one line.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from serving.config import ServingSettings
from serving.errors import NO_MODEL
from serving.feast_sink import FeastSink
from serving.predictor import Predictor
from serving.production import production_tag, resolve_production
from serving.production_log import ProductionLog
from serving.records import RecordMaker, retain_clip
from serving.startup import required_salt

log = logging.getLogger(__name__)


class ServingRuntime:
    """One worker's model, log and settings.

    Args:
        settings: the params file's serving-related sections.
        on_feast_failure: called with the row count of each failed Feast push (a metric).
        on_log_failure: called with the row count of each batch the production log dead-lettered (a metric).
    """

    def __init__(
        self,
        settings: ServingSettings,
        on_feast_failure: Callable[[int], None] | None = None,
        on_log_failure: Callable[[int], None] | None = None,
    ) -> None:
        cfg = settings.serving
        self.settings = settings
        self.api_key = os.environ.get(cfg.api_key_env, "").strip() or None
        self.predictor: Predictor | None = None
        self.tag: str | None = None
        self.unavailable_reason = NO_MODEL
        self.refused = ""  # why the last load was refused (kept serving the model before it)
        self.records = RecordMaker(required_salt(settings))  # the ingest salt; never minted here
        self.feast = (
            None
            if cfg.feast_push == "off"
            else FeastSink(settings.features, cfg.feast_push, on_feast_failure)
        )
        self.log = ProductionLog(
            cfg.production_log, flush_rows=cfg.flush_rows, flush_seconds=cfg.flush_seconds,
            sinks=[self.feast] if self.feast else [], write_attempts=cfg.log_write_attempts,
            retry_seconds=cfg.log_retry_seconds, on_failure=on_log_failure,
        )  # fmt: skip
        self._stop = threading.Event()
        self.load()
        self._reloader = None
        if cfg.reload_seconds > 0:
            self._reloader = threading.Thread(target=self._watch, name="model-reload", daemon=True)
            self._reloader.start()

    def load(self) -> bool:
        """Load the model the ledger names as production; False (and the reason kept) when none loads."""
        try:
            model_dir, version, tag = resolve_production(self.settings)  # verified, or refused
            predictor = Predictor(model_dir, self.settings, model_version=version)
        except Exception as exc:  # a corrupt checkpoint (RuntimeError, KeyError) must not stop the worker
            reason = getattr(exc, "message", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
            if reason != self.refused:  # once per reason, not on every reload tick
                kept = f"; still serving {self.tag}" if self.predictor is not None else ""
                log.warning("production model not loaded: %s%s", reason, kept)
            self.refused = reason
            if self.predictor is None:
                self.unavailable_reason = reason
            return False
        self.refused = ""
        self.predictor, self.tag = predictor, tag
        log.info("serving %s (%s)", version, tag)
        return True

    def _watch(self) -> None:
        period = self.settings.serving.reload_seconds
        while not self._stop.wait(period):
            try:
                if production_tag(self.settings) != self.tag:
                    self.load()
            except Exception as exc:  # a torn ledger read must not end the watcher
                log.warning("checking the ledger for a new production model failed: %s", exc)

    def record(self, prediction: dict, *, study_id: str, device: str, cohort: str, frames) -> None:
        """Append the prediction's production-log row and, with retain_clips on, keep its clip. A failure
        here is logged, never turned into a failed answer: the client's prediction is already made."""
        try:
            self.log.append(self.records.row(prediction, study_id=study_id, device=device, cohort=cohort))
        except Exception as exc:
            log.error("production log: the row of %s was not recorded: %s", prediction["request_id"], exc)
        cfg = self.settings.serving
        if cfg.retain_clips:
            day = f"{datetime.now(UTC):%Y-%m-%d}"
            try:
                retain_clip(frames, cfg.clips_dir(), prediction["request_id"], day)
            except Exception as exc:
                log.warning("retain_clips: cannot write the clip of %s: %s", prediction["request_id"], exc)

    def close(self) -> None:
        """Stop watching the ledger, flush the production log and finish its Feast pushes."""
        self._stop.set()
        self.log.close()
        if self.feast is not None:
            self.feast.close()
