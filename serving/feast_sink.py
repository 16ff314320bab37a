"""The production log's second destination: Feast's push source `production_log_push` (features.store).

Each flushed batch is pushed to the online store (and, with `online_and_offline`, appended to the store's
production_log.parquet). Pushes run in the sink's own thread and Feast is imported on the first one, so
neither the service's start, a request nor the log's file writes wait for it. When the store has no
production push source yet (a fresh store that `echojepa features` never applied), the request entity,
the push source and its view are registered first. A failing push is counted and logged; the prediction
was served and its row is in the production log regardless.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import pandas as pd

from features.config import FeatureConfig

log = logging.getLogger(__name__)


class FeastSink:
    """A ProductionLog sink pushing each batch to the Feast store of `config` from its own thread, so a
    slow push (the first one imports Feast, ~6 s) never holds up the log's file writes.

    Args:
        config: the `features:` section (store root and project).
        mode: "online" or "online_and_offline".
        on_failure: called with the number of rows of a failed push (a metric counter).
    """

    __name__ = "feast_push"

    def __init__(
        self,
        config: FeatureConfig,
        mode: str = "online_and_offline",
        on_failure: Callable[[int], None] | None = None,
    ) -> None:
        self.config, self.mode = config, mode
        self.on_failure = on_failure
        self.pushed = 0
        self.failed = 0
        self._store = None
        self._queue: queue.Queue[pd.DataFrame | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="feast-push", daemon=True)
        self._thread.start()

    def __call__(self, frame: pd.DataFrame) -> None:
        """Queue a batch for pushing (returns at once)."""
        self._queue.put(frame)

    def close(self, timeout: float = 60.0) -> None:
        """Push what is queued, then stop (waits at most `timeout` seconds)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _open(self):
        from features.definitions import PRODUCTION_PUSH, PRODUCTION_VIEW, definitions
        from features.store import open_store

        store = open_store(self.config.root_path(), self.config.project)
        if PRODUCTION_PUSH not in {s.name for s in store.list_data_sources()}:
            wanted = {"request", PRODUCTION_PUSH, PRODUCTION_VIEW}
            store.apply([o for o in definitions(self.config) if o.name in wanted])
            log.info("feature store %s: registered the production push source", self.config.root)
        return store

    def _run(self) -> None:
        while True:
            frames = [self._queue.get()]
            while not self._queue.empty():  # whatever queued up during the last push goes in one push
                frames.append(self._queue.get())
            batch = [f for f in frames if f is not None]
            if batch:
                self._push(pd.concat(batch, ignore_index=True))
            if any(f is None for f in frames):
                return

    def _push(self, frame: pd.DataFrame) -> None:
        from features.store import push_production

        try:
            if self._store is None:
                self._store = self._open()
            push_production(self._store, frame, offline=self.mode == "online_and_offline")
            self.pushed += len(frame)
        except Exception as exc:
            self.failed += len(frame)
            if self.on_failure:
                self.on_failure(len(frame))
            reason = (str(exc).splitlines() or [exc.__class__.__name__])[0]
            log.warning("Feast push of %d production rows failed: %s", len(frame), reason)
