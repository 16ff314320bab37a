"""The in-process prediction path, shared by the BentoML service, the benchmark and monitoring:
decode (with the input limits) → image quality and the shared cause classifier → evenly spaced clips →
encoder forward → EF and view heads → clip-averaged outputs.

The service runs the same steps, only split in two: `prepare` in a worker thread, `encode` through the
batchable clip endpoint (so concurrent requests share forward passes), then `summarize`. No BentoML here.

    predictor = Predictor.from_production("params.yaml")     # the model the release ledger names
    result = predictor.predict(Path("study.avi").read_bytes(), "study.avi")
    result["ef"], result["view"], result["quality"]["warnings"]
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from config import PARAMS_FILE
from model.data import MEAN, STD
from model.embed import load_encoder
from serving.clips import ClipOutputs, cut_clips
from serving.config import ServingSettings
from serving.errors import BadInput
from serving.inputs import InputLimits, decode_video, measure_quality, quality_report
from serving.model_files import load_heads, load_model_config, missing_head_reasons
from ultrasound.causes import CauseVerdict
from ultrasound.video_io import Video


@dataclass(frozen=True)
class Prepared:
    """A decoded, checked video ready for the encoder: its quality and its clips uint8 [C, T, R, R]."""

    video: Video
    metrics: dict[str, float]
    verdict: CauseVerdict
    clips: np.ndarray


class Predictor:
    """A loaded model directory (encoder.pt, config.yaml, probes/<task>/seed-<n>.pt) and its limits.

    Args:
        model_dir: the model's files (a BentoML model's path, or a run folder).
        settings: the params file's serving settings (input limits, clips per video, torch threads).
        model_version: reported with every prediction (default: the folder's name).
        limits: input limits other than the settings' (tests); a video past them raises BadInput.
    """

    def __init__(
        self,
        model_dir: str | Path,
        settings: ServingSettings,
        *,
        model_version: str | None = None,
        limits: InputLimits | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.model_version = model_version or self.model_dir.name
        self.limits = limits or InputLimits.from_config(settings.serving)
        self.clips_per_video = settings.clips_per_video
        if settings.serving.torch_threads:  # sets torch's process-wide setting (0: leave it, every core)
            torch.set_num_threads(settings.serving.torch_threads)
        self.config = load_model_config(self.model_dir)
        self.encoder = load_encoder(self.config, self.model_dir / "encoder.pt")
        self.heads = load_heads(self.model_dir)
        self.views = self.heads["view"].class_names if "view" in self.heads else ()
        self.missing = missing_head_reasons(self.model_dir, self.heads)  # {task: why it is not served}

    @classmethod
    def from_production(cls, params: str | Path = PARAMS_FILE) -> Predictor:
        """The production model of the release ledger that `params` names, with serving's limits.

        Raises:
            ModelUnavailable: no production model yet, a ledger that does not verify, or a model the
                BentoML store no longer holds.
        """
        from serving.config import load_serving_settings
        from serving.production import resolve_production

        settings = load_serving_settings(params)
        model_dir, version, _ = resolve_production(settings)
        return cls(model_dir, settings, model_version=version)

    @property
    def probe_files(self) -> dict[str, str | None]:
        """The served probes and the sha256 of the bytes loaded ("ef/seed-0.pt": ...): the same names and
        hashes as evaluation.json's `probes`."""
        return {name: digest for head in self.heads.values() for name, digest in head.files().items()}

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        """(frames, resolution, resolution) of one encoder input clip."""
        d = self.config.data
        return d.frames, d.resolution, d.resolution

    @property
    def clip_bytes(self) -> int:
        """Bytes of one uint8 clip."""
        frames, height, width = self.clip_shape
        return frames * height * width

    # ------------------------------------------------------------------ the steps
    def decode(self, data: bytes, filename: str = "<upload>", cancel: threading.Event | None = None) -> Video:
        """The upload's grey frames, after the size, length, decoded-size, frame-size and blank checks
        (BadInput); `cancel` stops the frame loop (DecodeCancelled) when the caller gives up."""
        return decode_video(data, filename, self.limits, cancel)

    def clips(self, video: Video) -> np.ndarray:
        """`clips_per_video` evenly spaced clips at the model's frames, step and resolution:
        uint8 [C, T, R, R]."""
        d = self.config.data
        return cut_clips(video.frames, self.clips_per_video, d.frames, d.frame_step, d.resolution)

    def prepare(
        self, data: bytes, filename: str = "<upload>", cancel: threading.Event | None = None
    ) -> Prepared:
        """Everything before the encoder: decode, quality metrics, causes, clips."""
        video = self.decode(data, filename, cancel)
        metrics, verdict = measure_quality(video, cancel)
        return Prepared(video, metrics, verdict, self.clips(video))

    @torch.inference_mode()
    def forward(self, clips: np.ndarray) -> torch.Tensor:
        """Encoder tokens of uint8 clips [B, T, R, R] -> float [B, N, D] (normalised as in training)."""
        clips = np.asarray(clips)
        if clips.ndim != 4 or clips.shape[1:] != self.clip_shape:
            raise BadInput(
                f"clips must be uint8 [B, {', '.join(map(str, self.clip_shape))}], got {clips.shape}"
            )
        x = (torch.from_numpy(np.ascontiguousarray(clips, dtype=np.uint8)).float() - MEAN) / STD
        return self.encoder(x[:, None])

    @torch.inference_mode()
    def heads_of(self, tokens: torch.Tensor) -> ClipOutputs:
        """Per-clip EF, view probabilities (each the mean of its ensemble's probes) and pooled embedding
        from tokens [B, N, D]."""
        ef = self.heads["ef"].clip_outputs(tokens)
        view = self.heads.get("view")
        probs = view.clip_outputs(tokens) if view is not None else torch.zeros((len(tokens), 0))
        return ClipOutputs(ef.numpy(), probs.numpy(), tokens.mean(1).numpy().astype(np.float32))

    def encode(self, clips: np.ndarray) -> ClipOutputs:
        """forward + heads for a batch of clips (what the batchable clip endpoint runs)."""
        return self.heads_of(self.forward(clips))

    def summarize(self, prepared: Prepared, outputs: ClipOutputs, started: float) -> dict:
        """The clip-averaged prediction of one video (the /predict body, plus its pooled `embedding`)."""
        probs = outputs.view_probs.mean(0)
        return {
            "request_id": uuid.uuid4().hex,
            "model_version": self.model_version,
            "ef": float(np.clip(outputs.ef.mean(), 0.0, 100.0)),
            "view": self.views[int(probs.argmax())] if self.views else None,
            "view_reason": self.missing.get("view"),
            "view_probabilities": {v: float(p) for v, p in zip(self.views, probs, strict=True)},
            "quality": quality_report(prepared.metrics, prepared.verdict),
            "clips": len(outputs.ef),
            "latency_ms": (time.perf_counter() - started) * 1000.0,
            "embedding": outputs.embedding.mean(0).tolist(),
        }

    # ------------------------------------------------------------------ the whole path
    def predict(self, data: bytes, filename: str = "<upload>") -> dict:
        """Decode, measure, encode and summarise one upload in this process (BadInput on bad input)."""
        started = time.perf_counter()
        prepared = self.prepare(data, filename)
        return self.summarize(prepared, self.encode(prepared.clips), started)

    def embed(self, data: bytes, filename: str = "<upload>") -> np.ndarray:
        """The pooled encoder embedding float32 [D] of one upload (mean over clips and tokens)."""
        video = self.decode(data, filename)
        return self.encode(self.clips(video)).embedding.mean(0)
