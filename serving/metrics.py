"""The service's own Prometheus counters, beside BentoML's `bentoml_service_*` request metrics on /metrics.

prometheus_client is imported when `ServiceMetrics()` is built, inside the worker: BentoML sets the
multiprocess directory there after importing the service module, and a client imported earlier would
count in a private registry that /metrics never shows. Every known label value starts at 0, so a
dashboard sees a flat line rather than a missing series before the first event.
"""

from __future__ import annotations

from ultrasound.perturbations import PERTURBATION_KINDS

# reasons a request is refused for its input (the guard's and serving.inputs' reason ids)
BAD_INPUT_REASONS = (
    "empty", "not_a_video", "unsupported_codec", "truncated", "no_frames", "no_pixel_data",
    "too_many_frames", "frame_too_large", "too_large", "too_short", "frame_too_small", "blank",
    "undecodable", "unmeasurable", "no_video", "bad_form", "bad_field", "bad_clips", "too_large_decoded",
    "frame_size_changed",
)  # fmt: skip


class ServiceMetrics:
    """echojepa_predictions_total{endpoint}, echojepa_warnings_total{kind}, echojepa_bad_input_total{reason},
    echojepa_unauthorized_total, echojepa_feast_push_failures_total,
    echojepa_production_log_failed_rows_total."""

    def __init__(self) -> None:
        from prometheus_client import Counter

        self.predictions = Counter(
            "echojepa_predictions_total", "Videos answered, by endpoint (predict, embed)", ["endpoint"]
        )
        self.warnings = Counter(
            "echojepa_warnings_total", "Quality warnings given, by likely degradation kind", ["kind"]
        )
        self.bad_input = Counter("echojepa_bad_input_total", "Requests refused for their input", ["reason"])
        self.unauthorized = Counter(
            "echojepa_unauthorized_total", "Requests refused for a missing or wrong API key"
        )
        self.feast_failures = Counter(
            "echojepa_feast_push_failures_total",
            "Production rows whose Feast push failed (they are in the log)",
        )
        self.log_failures = Counter(
            "echojepa_production_log_failed_rows_total",
            "Production rows whose log write failed after its retries (kept in dead-letter.jsonl)",
        )
        for endpoint in ("predict", "embed"):
            self.predictions.labels(endpoint=endpoint)
        for kind in PERTURBATION_KINDS:
            self.warnings.labels(kind=kind)
        for reason in BAD_INPUT_REASONS:
            self.bad_input.labels(reason=reason)

    def refused(self, reason: str) -> None:
        self.bad_input.labels(reason=reason).inc()

    def answered(self, endpoint: str, causes: list[str] | tuple[str, ...] = ()) -> None:
        self.predictions.labels(endpoint=endpoint).inc()
        for kind in causes:
            self.warnings.labels(kind=kind).inc()
