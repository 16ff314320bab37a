"""Response bodies of the API, as pydantic models so that the OpenAPI document at /docs describes them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Quality(BaseModel):
    """Image quality of the video and the shared cause classifier's reading of it."""

    metrics: dict[str, float] = Field(description="ultrasound.quality metrics of the whole video")
    degraded: bool = Field(description="whether an acoustic degradation was detected")
    causes: list[str] = Field(description="likely degradation kinds, most likely first")
    warnings: list[str] = Field(description="what each cause means, and when EF should not be trusted")


class Prediction(BaseModel):
    """POST /predict: clip-averaged EF and view of one echo video, with its quality report."""

    request_id: str = Field(description="uuid4 hex; the production-log row of this prediction carries it")
    model_version: str
    ef: float = Field(description="ejection fraction, percent, averaged over clips")
    view: str | None = Field(description="the most likely view; null when the model has no view probe")
    view_reason: str | None = Field(
        None, description="why `view` is null (e.g. the training data held one view only)"
    )
    view_probabilities: dict[str, float]
    quality: Quality
    clips: int = Field(description="clips averaged")
    latency_ms: float = Field(description="server time from upload received to answer ready")


class Embedding(BaseModel):
    """POST /embed: the pooled encoder embedding (mean over clips and tokens)."""

    model_version: str
    embedding: list[float]
    clips: int
    latency_ms: float


class ClipOutput(BaseModel):
    """One clip's outputs from POST /encode_clips, in the order of the request's clips."""

    model_version: str
    ef: float = Field(description="this clip's EF estimate, percent")
    view_probabilities: list[float] = Field(description="in the order of the model's views (GET /readyz)")
    embedding: list[float] = Field(description="the clip's tokens, mean-pooled")
