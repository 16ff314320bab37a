"""The ASGI middleware in front of the BentoML service: every refusal is a JSON object {"error": "..."}.

For the API routes (POST /predict, /embed, /encode_clips) it checks, in order: the API key (401, when
one is configured), that a production model is loaded (503 with the one-line way to release one), for
uploads a free in-flight slot (429 with Retry-After: `serving.max_in_flight` across every worker, see
serving.inflight), the body size (413: on a declared Content-Length before a byte of the body is read; a
chunked body is cut as soon as it passes the limit), and the body itself (serving.forms).
It also answers GET /readyz (200 with the model version and clip shape, or 503 saying why not) and GET
/docs (the OpenAPI UI), and rewrites error bodies of the API routes that BentoML produced (a JSON list
for its own exceptions, pydantic details for validation errors, text for 405) into that same object.
/healthz, /livez, /metrics and the docs stay open without a key (probes and scrapers carry none).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers

from serving.errors import ModelUnavailable, ServingError
from serving.forms import check_clip_batch, normalize_upload

if TYPE_CHECKING:
    from serving.metrics import ServiceMetrics
    from serving.runtime import ServingRuntime

UPLOAD_ROUTES = {"/predict": ("study_id", "device", "cohort"), "/embed": ()}
CLIP_ROUTE = "/encode_clips"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and text fields on top of the video itself
STARTING = "the service is starting; retry in a few seconds"
RETRY_BUSY_S = 2  # Retry-After of a 429: an upload takes about a second to decode and measure


@dataclass
class ServiceState:
    """What the middleware shares with the service instance of its worker process."""

    runtime: ServingRuntime | None = None
    metrics: ServiceMetrics | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def respond(send, status: int, payload: dict | None, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode() if payload is not None else b""
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Pure ASGI middleware; `state` is filled in by the service instance when it starts."""

    def __init__(self, app, state: ServiceState) -> None:
        self.app, self.state = app, state
        self._slots = None  # InFlightSlots, made on the first upload (the cap is in the runtime's settings)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/readyz":
            return await self._readyz(send)
        if path == "/docs" and scope["method"] == "GET":
            return await respond(send, 307, None, {"location": "/"})
        if path not in UPLOAD_ROUTES and path != CLIP_ROUTE:
            return await self.app(scope, receive, send)
        slot = None
        try:
            try:
                self._check_access(scope)
                if path in UPLOAD_ROUTES and scope["method"] == "POST":  # not the clip self-call
                    slot = self._take_slot()
                scope, body = await self._admit(scope, receive)
            except ServingError as exc:
                return await self._refuse(send, exc)
            await self.app(scope, _replay(body, receive), _ErrorBodies(send))
        finally:
            if slot is not None:
                self._slots.release(slot)

    def _check_access(self, scope) -> None:
        """401 without the API key, 503 without a production model."""
        runtime = self.state.runtime
        if runtime is not None and runtime.api_key and not _authorized(Headers(scope=scope), runtime.api_key):
            raise ServingError(
                "a valid API key is required: send 'Authorization: Bearer KEY'", 401, "unauthorized"
            )
        if runtime is None or runtime.predictor is None:
            raise ModelUnavailable(runtime.unavailable_reason if runtime is not None else STARTING)

    def _take_slot(self) -> int:
        """An in-flight slot, or 429 when `serving.max_in_flight` uploads are being served."""
        if self._slots is None:
            from serving.inflight import InFlightSlots

            self._slots = InFlightSlots(self.state.runtime.settings.serving.max_in_flight)
        slot = self._slots.acquire()
        if slot is None:
            raise ServingError(
                f"the server is busy with {self._slots.cap} uploads; retry in {RETRY_BUSY_S} seconds",
                429, "busy",
            )  # fmt: skip
        return slot

    async def _admit(self, scope, receive) -> tuple[dict, bytes]:
        runtime = self.state.runtime
        headers = Headers(scope=scope)
        predictor = runtime.predictor
        if scope["method"] != "POST":
            return scope, b""
        cfg = runtime.settings.serving
        if scope["path"] == CLIP_ROUTE:
            limit = cfg.max_batch_size * (4 * predictor.clip_bytes // 3 + 8) + FORM_OVERHEAD
            too_large = f"the request holds more than {cfg.max_batch_size} clips' worth of data"
        else:
            limit = cfg.max_upload_bytes + FORM_OVERHEAD
            too_large = f"the request is larger than the {cfg.max_upload_mb:g} MB upload limit"
        body = await _read_body(receive, headers, limit, too_large)
        if scope["path"] == CLIP_ROUTE:
            check_clip_batch(body, predictor.clip_shape, cfg.max_batch_size)
            return scope, body
        body, content_type = await normalize_upload(headers, body, UPLOAD_ROUTES[scope["path"]])
        kept = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        kept += [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        return dict(scope, headers=kept), body

    async def _refuse(self, send, exc: ServingError) -> None:
        metrics = self.state.metrics
        if metrics is not None and exc.status == 401:
            metrics.unauthorized.inc()
        elif metrics is not None and exc.status < 500 and exc.status != 429:  # 429 is load, not input
            metrics.refused(exc.reason)
        extra = {"www-authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.status == 503:
            extra["retry-after"] = "5"
        elif exc.status == 429:
            extra["retry-after"] = str(RETRY_BUSY_S)
        await respond(send, exc.status, {"error": exc.message}, extra)

    async def _readyz(self, send) -> None:
        runtime = self.state.runtime
        predictor = runtime.predictor if runtime is not None else None
        if predictor is None:
            reason = runtime.unavailable_reason if runtime is not None else STARTING
            return await respond(send, 503, {"error": reason}, {"retry-after": "5"})
        await respond(
            send, 200,
            {
                "status": "ready", "model_version": predictor.model_version,
                "clip_shape": list(predictor.clip_shape), "views": list(predictor.views),
                "probes": predictor.probe_files, "tasks": list(predictor.heads), "missing": predictor.missing,
            },
        )  # fmt: skip


def _authorized(headers: Headers, key: str) -> bool:
    given = headers.get("x-api-key") or ""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = token.strip()
    return bool(given) and hmac.compare_digest(given.encode(), key.encode())


async def _read_body(receive, headers: Headers, limit: int, too_large_message: str) -> bytes:
    """The whole body, or 413: at once when the declared Content-Length passes `limit` (no byte of the
    body is read), else as soon as the bytes received pass it (a chunked body is cut there)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ServingError(too_large_message, 413, "too_large")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ServingError("the client disconnected", 400, "bad_form")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ServingError(too_large_message, 413, "too_large")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the client's disconnect, when it comes

    return replay


class _ErrorBodies:
    """Wraps `send`: an error response of an API route gets the body {"error": "<one sentence>"}."""

    def __init__(self, send) -> None:
        self.send, self.start, self.chunks = send, None, []

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            return await self.send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        status = self.start["status"]
        error = error_sentence(b"".join(self.chunks), status)
        headers = [(k, v) for k, v in self.start["headers"] if k not in (b"content-type", b"content-length")]
        await respond(self.send, status, {"error": error}, {k.decode(): v.decode() for k, v in headers})


def error_sentence(body: bytes, status: int) -> str:
    """One sentence from whatever error body BentoML or Starlette wrote."""
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = body.decode("utf-8", "replace").strip()
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]
    if isinstance(payload, dict) and payload.get("detail") and isinstance(payload["detail"], list):
        first = payload["detail"][0]
        name = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "root")) or "request"
        if first.get("type") == "missing":
            return f"the request lacks the field '{name}'"
        return f"invalid field '{name}': {first.get('msg', 'invalid value')}"
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return payload["error"]
    if isinstance(payload, str) and payload:
        return payload.splitlines()[0]
    return HTTPStatus(status).phrase
