"""The one cause classifier: which acoustic degradation, if any, a clip shows.

A small classifier (standardised quality-metric features, one ReLU hidden layer, softmax) fitted on simulated
clean and perturbed clips as rendered, as stored and as sites with other display settings and codecs show
them (`python -m ultrasound.fit_causes`), shipped as `cause_model.json`; inference is plain numpy so serving
can call it per request. A clip is called degraded only when the model's probability of "clean" falls below
a threshold calibrated to keep false alarms on clean clips near 2 %. Serving's warnings and
monitoring's degradation detector both call `classify_causes`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ultrasound.perturbations import PERTURBATION_KINDS

MODEL_PATH = Path(__file__).with_name("cause_model.json")
CLASSES = ("clean", *PERTURBATION_KINDS)
POSSIBLE_CAUSE_SHARE = 0.3  # a kind also named when its share of the degraded probability exceeds this

# what an operator or clinician reads for each cause
ADVICE = {
    "depth_attenuation": "far-field attenuation: echoes fade with depth (check TGC and depth settings)",
    "gaussian_shadow": "acoustic shadowing over part of the sector (rib, lung or poor contact)",
    "gain_drift": "overall gain too low: the image is uniformly dark",
    "dynamic_range": "narrow displayed dynamic range: weak echoes are lost to black",
    "blur": "blurred image: fine speckle and edges are lost (focus, probe or motion)",
    "sector_dropout": "a dark wedge in the sector: probe elements may have failed",
}


def features(metrics: dict[str, float]) -> np.ndarray:
    """The classifier's feature vector from quality metrics (scale-free where a perturbation rescales)."""
    b, c = metrics["brightness"], metrics["contrast"]
    return np.array(
        [
            np.log1p(b),
            np.log1p(c),
            c / (b + 1.0),
            metrics["dynamic_range"] / 255.0,
            metrics["dark_share"],
            np.log1p(metrics["speckle_snr"]),
            metrics["sharpness"],
            metrics["depth_slope"],
            metrics["near_depth_slope"],
            metrics["shadowed_share"],
            metrics["dimmed_tissue_share"],
            metrics["dropout_share"],
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class CauseModel:
    """Standardisation, an optional ReLU hidden layer (weights [n_hidden, n_features]), output weights
    [n_classes, n_hidden or n_features], biases, and the clean-probability threshold."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    clean_threshold: float
    hidden_weights: np.ndarray | None = None
    hidden_bias: np.ndarray | None = None

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for feature rows x [N, F] -> [N, C]."""
        z = (np.atleast_2d(x) - self.mean) / self.scale
        if self.hidden_weights is not None:
            z = np.maximum(z @ self.hidden_weights.T + self.hidden_bias, 0.0)
        z = z @ self.weights.T + self.bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def to_json(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()} | {
            "classes": list(CLASSES)
        }

    @classmethod
    def from_json(cls, data: dict) -> CauseModel:
        if data.get("classes") != list(CLASSES):
            raise ValueError(f"cause model classes {data.get('classes')} do not match {list(CLASSES)}")
        keys = ("mean", "scale", "weights", "bias", "hidden_weights", "hidden_bias")
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in keys if data.get(k) is not None}
        if ("hidden_weights" in arrays) != ("hidden_bias" in arrays):
            raise ValueError("cause model: hidden_weights and hidden_bias must come together")
        return cls(**arrays, clean_threshold=float(data["clean_threshold"]))


@cache
def load_model(path: str | None = None) -> CauseModel:
    """The shipped model (or one at `path`)."""
    return CauseModel.from_json(json.loads(Path(path or MODEL_PATH).read_text()))


@dataclass(frozen=True)
class CauseVerdict:
    """Whether any cause is called, the likely kinds (most likely first), and every class probability."""

    degraded: bool
    causes: tuple[str, ...]
    probabilities: dict[str, float]

    @property
    def warnings(self) -> list[str]:
        return [f"{kind}: {ADVICE[kind]}" for kind in self.causes]


def classify_causes(metrics: dict[str, float], model: CauseModel | None = None) -> CauseVerdict:
    """Name the likely degradation kind(s) of a clip from its quality metrics."""
    model = model or load_model()
    p = model.probabilities(features(metrics))[0]
    probs = {c: float(v) for c, v in zip(CLASSES, p, strict=True)}
    if probs["clean"] >= model.clean_threshold:
        return CauseVerdict(False, (), probs)
    degraded = {k: probs[k] for k in PERTURBATION_KINDS}
    total = sum(degraded.values()) or 1.0
    ranked = sorted(degraded, key=degraded.get, reverse=True)
    causes = tuple(k for i, k in enumerate(ranked) if i == 0 or degraded[k] / total > POSSIBLE_CAUSE_SHARE)
    return CauseVerdict(True, causes, probs)
