"""The BentoML service: POST /predict, /embed and the batchable /encode_clips; /healthz, /readyz, /metrics,
OpenAPI at /docs. Start it with `echojepa serve` (or `bentoml serve serving.service:EchoJEPA` from the repo
root; ECHOJEPA_PARAMS names the params file, default params.yaml).

/predict and /embed decode and check the upload in a worker thread, then send the clips through
`/encode_clips` via the service's own client handle (`self.to_async`): that call goes through BentoML's
adaptive batcher, so concurrent requests share forward passes (see bentoml_service_adaptive_batch_size on
/metrics). Refusals are JSON objects {"error": "..."}: BadInput gives 4xx, a missing model 503
(serving.guard answers those before BentoML parses a body).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import aiohttp
import anyio.to_thread
import bentoml
from bentoml.exceptions import BentoMLException
from starlette.responses import JSONResponse

from serving.clips import ClipOutputs, decode_clips, encode_clip
from serving.config import load_serving_settings
from serving.errors import ModelUnavailable, ServingError
from serving.guard import RequestGuard, ServiceState
from serving.records import check_fields
from serving.schemas import ClipOutput, Embedding, Prediction
from serving.startup import check_startup

PARAMS = Path(os.environ.get("ECHOJEPA_PARAMS", "params.yaml"))
SETTINGS = load_serving_settings(PARAMS)
check_startup(SETTINGS)  # in `bentoml serve` and each worker: no public port without a key, no missing salt
CONFIG = SETTINGS.serving
STATE = ServiceState()  # shared with the RequestGuard of this worker process


@bentoml.service(
    name="echojepa",
    workers=CONFIG.workers,
    traffic={"timeout": CONFIG.timeout_s},
    metrics={"enabled": True},
    # the self-call client is in-process: BentoML's connection recycling (every 100 requests / 300 s) would
    # only close the session under requests still in flight on it
    runner_connection={"max_requests": 2**31 - 1, "max_age": 1e9},
)
class EchoJEPA:
    """EF, view and quality warnings for echocardiography videos, from the production model."""

    def __init__(self) -> None:
        from serving.metrics import ServiceMetrics
        from serving.runtime import ServingRuntime

        STATE.metrics = ServiceMetrics()
        self.runtime = ServingRuntime(
            SETTINGS,
            on_feast_failure=STATE.metrics.feast_failures.inc,
            on_log_failure=STATE.metrics.log_failures.inc,
        )
        STATE.runtime = self.runtime

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.runtime.close()

    @bentoml.api(route="/predict")
    async def predict(
        self, video: Path, study_id: str = "", device: str = "", cohort: str = "unknown"
    ) -> Prediction:
        """EF (averaged over clips), view and quality warnings of one AVI, MP4 or multi-frame DICOM video.

        Optional fields: `study_id` (stored only as a keyed pseudonym), `device`, `cohort` (adult,
        pediatric or unknown). Refusals: {"error": "..."} with 400/413/415/422, 401 without the API key,
        429 (Retry-After) while `serving.max_in_flight` uploads are in flight, 503 while no production
        model is released, 504 past `serving.timeout_s` (the decode then stops).
        """
        started = time.perf_counter()
        try:
            study_id, device, cohort = check_fields(study_id, device, cohort)
            self.runtime.records.check_study_id(study_id)
            predictor = self._predictor()
            prepared = await _in_thread(lambda cancel: predictor.prepare(video.read_bytes(), cancel=cancel))
            outputs = await self._encode(prepared.clips, predictor.model_version)
            result = predictor.summarize(prepared, outputs, started)
            await anyio.to_thread.run_sync(
                lambda: self.runtime.record(
                    result, study_id=study_id, device=device, cohort=cohort, frames=prepared.video.frames
                )
            )
        except ServingError as exc:
            return self._refusal(exc)
        STATE.metrics.answered("predict", result["quality"]["causes"])
        result.pop("embedding")
        return Prediction(**result)

    @bentoml.api(route="/embed")
    async def embed(self, video: Path) -> Embedding:
        """The pooled encoder embedding of one video (mean over its clips and tokens)."""
        started = time.perf_counter()
        try:
            predictor = self._predictor()
            frames = await _in_thread(
                lambda cancel: predictor.clips(predictor.decode(video.read_bytes(), cancel=cancel))
            )
            outputs = await self._encode(frames, predictor.model_version)
        except ServingError as exc:
            return self._refusal(exc)
        STATE.metrics.answered("embed")
        return Embedding(
            model_version=predictor.model_version, embedding=outputs.embedding.mean(0).tolist(),
            clips=len(outputs.ef), latency_ms=(time.perf_counter() - started) * 1000.0,
        )  # fmt: skip

    @bentoml.api(
        route="/encode_clips",
        batchable=True,
        batch_dim=0,
        max_batch_size=CONFIG.max_batch_size,
        max_latency_ms=CONFIG.max_latency_ms,
    )
    def encode_clips(self, clips: list[str]) -> list[ClipOutput]:
        """Per-clip EF, view probabilities and pooled embedding of pre-cut clips, batched adaptively with
        concurrent requests. Each clip: base64 of uint8 [frames, resolution, resolution] bytes in C order
        (GET /readyz reports `clip_shape` and the order of `views`)."""
        predictor = self._predictor()
        outputs = predictor.encode(decode_clips(clips, predictor.clip_shape))
        version = predictor.model_version
        return [ClipOutput(model_version=version, **row) for row in outputs.rows()]

    # ------------------------------------------------------------------ helpers
    def _predictor(self):
        predictor = self.runtime.predictor
        if predictor is None:
            raise ModelUnavailable(self.runtime.unavailable_reason)
        return predictor

    async def _encode(self, clips, version: str) -> ClipOutputs:
        """Clips through the batchable endpoint (self-call: same process, through the batcher)."""
        client = self.to_async
        if self.runtime.api_key:  # the self-call passes the guard like any client
            client.default_headers["Authorization"] = f"Bearer {self.runtime.api_key}"
        payload = [encode_clip(c) for c in clips]
        try:
            try:
                rows = await client.encode_clips(clips=payload)
            except aiohttp.ClientConnectionError:  # a dropped in-process connection; encoding is pure: retry
                rows = await client.encode_clips(clips=payload)
        except BentoMLException as exc:
            if exc.error_code.value == 503:
                raise ModelUnavailable(
                    "the server is overloaded; retry shortly", reason="overloaded"
                ) from None
            raise
        outputs = ClipOutputs.from_rows(rows)
        if any(row["model_version"] != version for row in outputs.items):
            raise ModelUnavailable(
                "the production model changed during the request; retry", reason="model_changed"
            )
        return outputs

    @staticmethod
    def _refusal(exc: ServingError) -> JSONResponse:
        if exc.status < 500:
            STATE.metrics.refused(exc.reason)
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


async def _in_thread(work):
    """`work(cancel)` in a worker thread. BentoML's request timeout cancels only this task, so on
    cancellation the thread is abandoned and `cancel` set: the decode's frame loop checks it between
    frames and stops, giving its thread and frame array back within a frame's decode time."""
    cancel = threading.Event()
    try:
        return await anyio.to_thread.run_sync(lambda: work(cancel), abandon_on_cancel=True)
    finally:
        cancel.set()


EchoJEPA.add_asgi_middleware(RequestGuard, state=STATE)
