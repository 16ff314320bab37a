"""Pixel-only EF estimators: the simulator's honesty check (the shortcut audit).

An encoder's EF MAE means something only when raw pixel statistics cannot reach it. Three estimators that see
no learned feature at all are fitted on TRAIN+VAL and scored on TEST, beside the mean predictor:

- `tubelet`: ridge on each 2×16×16 tubelet's mean grey level, its temporal std and mean over the clip (the
  exact token grid of the encoder, from the same clips the encoder sees: `model.data.cut_clip` at
  `clip_starts`, resized by `to_tensor`);
- `std_map`: ridge on the per-pixel temporal-std map, block-averaged to 14×14;
- `dark_area`: a linear calibration of the fractional change of the dark in-sector area over the video (a
  per-video Otsu threshold), the crudest "LV empties" proxy.

Each is tuned by 5-fold CV on TRAIN only (ridge α on a log grid; the dark-area range's percentile), grouped by
patient when the manifest names patients, so repeat visits never sit on both sides of a fold. TEST MAE is
compared with the mean predictor's by a paired bootstrap over TEST videos. The verdict is "shortcut" when any
estimator's MAE is below `max_ratio` × the mean predictor's (issue 15: every pixel-only estimator must stay
≥ 0.85 × the mean predictor's on a benchmark that only video understanding can solve).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skimage.filters import threshold_otsu
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from evaluation.bootstrap import paired_interval
from model.config import DataConfig, ModelConfig
from model.data import MEAN, STD, clip_starts, cut_clip, to_tensor
from ultrasound.echonet import video_file
from ultrasound.geometry import estimate_sector_mask
from ultrasound.video_io import read_video

ESTIMATORS = ("tubelet", "std_map", "dark_area")
STD_MAP_BLOCK = (
    8  # 112 / 8 = 14×14 cells: coarse enough for 1,000 videos, fine enough to see the LV wall move
)
RIDGE_ALPHAS = np.logspace(-2, 5, 15)
DARK_PERCENTILES = (0.0, 2.0, 5.0, 10.0)  # the area's range from its q-th to (100 − q)-th percentile
FOLDS = 5


@dataclass(frozen=True)
class PixelFeatures:
    """Per-video pixel statistics in manifest order: tubelet [V, 2·N], std_map [V, M], dark_area [V, Q]."""

    names: tuple[str, ...]
    tubelet: np.ndarray
    std_map: np.ndarray
    dark_area: np.ndarray

    def matrix(self, estimator: str) -> np.ndarray:
        return getattr(self, estimator)


def grey_clips(video: np.ndarray, data: DataConfig, count: int) -> np.ndarray:
    """The encoder's input clips in grey levels: float [count, frames, R, R] (to_tensor, un-normalised)."""
    span = data.frames * data.frame_step
    clips = [
        to_tensor(cut_clip(video, s, data.frames, data.frame_step), data.resolution)[0].numpy()
        for s in clip_starts(len(video), span, count)
    ]
    return np.stack(clips) * STD + MEAN


def tubelet_statistics(clips: np.ndarray, tubelet: int, patch: int) -> np.ndarray:
    """Temporal std, then temporal mean, of every tubelet's mean grey level, averaged over clips: [2·N].

    clips: [C, T, R, R]; N = (R / patch)² token positions (49 at 112² and patch 16)."""
    c, t, r, _ = clips.shape
    cells = clips.reshape(c, t // tubelet, tubelet, r // patch, patch, r // patch, patch).mean(axis=(2, 4, 6))
    return np.concatenate([cells.std(axis=1).reshape(c, -1), cells.mean(axis=1).reshape(c, -1)], 1).mean(0)


def std_map(clips: np.ndarray, block: int = STD_MAP_BLOCK) -> np.ndarray:
    """Per-pixel temporal std, block-averaged and averaged over clips: [(R / block)²]."""
    c, _, r, _ = clips.shape
    per_pixel = clips.std(axis=1)
    return per_pixel.reshape(c, r // block, block, r // block, block).mean(axis=(2, 4)).mean(0).ravel()


def dark_area_change(video: np.ndarray, percentiles: tuple[float, ...] = DARK_PERCENTILES) -> np.ndarray:
    """Fractional change of the dark in-sector area over the whole video, one value per percentile q:
    (A_{100−q} − A_q) / A_{100−q}; A_t: in-sector pixels below the video's Otsu threshold at frame t."""
    sector = estimate_sector_mask(video)
    inside = video[:, sector]  # [T, P]
    area = (inside <= threshold_otsu(inside)).sum(axis=1).astype(float)  # skimage: foreground is > t
    high = np.percentile(area, [100.0 - q for q in percentiles])
    low = np.percentile(area, list(percentiles))
    return (high - low) / np.maximum(high, 1.0)


def pixel_features(
    dataset_dir: Path | None, names: list[str], data: DataConfig, model: ModelConfig, clips_per_video: int,
    cache_dir: Path | None = None,
) -> PixelFeatures:  # fmt: skip
    """Every estimator's inputs for the named videos of an EchoNet-layout folder (decoded once each), or,
    with `cache_dir`, of the clip cache that model.data.build_clip_cache decoded them into (the frames the
    encoder's clips are cut from, without decoding again)."""
    tub, smap, dark = [], [], []
    threads = torch.get_num_threads()
    # one clip's resize is too small to share: on 2 busy cores a second thread made it 20× slower (measured
    # 5 ms against 105 ms a video), one thread brings the demo's ~360 videos to a few seconds
    torch.set_num_threads(1)
    try:
        for name in names:
            video = (
                np.load(Path(cache_dir) / f"{name}.npy")
                if cache_dir is not None
                else read_video(video_file(Path(dataset_dir), name)).frames
            )
            clips = grey_clips(video, data, clips_per_video)
            tub.append(tubelet_statistics(clips, model.tubelet, model.patch_size))
            smap.append(std_map(clips))
            dark.append(dark_area_change(video))
    finally:
        torch.set_num_threads(threads)
    return PixelFeatures(tuple(names), np.stack(tub), np.stack(smap), np.stack(dark))


def _column(x: np.ndarray, index: int) -> np.ndarray:
    return x[:, [index]]


def _search(estimator: str) -> tuple[object, dict]:
    """The model and its CV grid: standardised ridge over α, or a line through one percentile's change."""
    if estimator == "dark_area":
        pipe = make_pipeline(FunctionTransformer(_column, kw_args={"index": 0}), LinearRegression())
        grid = {"functiontransformer__kw_args": [{"index": i} for i in range(len(DARK_PERCENTILES))]}
        return pipe, grid
    return make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": RIDGE_ALPHAS.tolist()}


def _tuned(estimator: str, search: GridSearchCV) -> dict:
    if estimator == "dark_area":
        q = DARK_PERCENTILES[search.best_params_["functiontransformer__kw_args"]["index"]]
        return {"percentile": q}
    return {"alpha": float(search.best_params_["ridge__alpha"])}


def fit_estimator(
    estimator: str, x: np.ndarray, table: pd.DataFrame, seed: int = 0, fit_on: str = "TRAIN+VAL"
) -> tuple[np.ndarray, dict]:
    """Tune on TRAIN (5-fold CV), refit on `fit_on` with the chosen setting: TEST predictions, setting.

    Args:
        x: [V, F] features in `table` order; table: the manifest rows (Split, EF, optional PatientID).
        fit_on: "TRAIN+VAL" (the audit's) or "TRAIN" (the rows the probes fit on when VAL selects their
            head: evaluation.probe_protocol.protocol_rows).
    """
    split = table.Split.astype(str).str.upper().to_numpy()
    y = table.EF.to_numpy(dtype=float)
    train, fit_rows, test = split == "TRAIN", np.isin(split, fit_on.split("+")), split == "TEST"
    model, grid = _search(estimator)
    groups = table.PatientID.to_numpy()[train] if "PatientID" in table else None
    if groups is not None and len(np.unique(groups)) >= FOLDS:
        folds = GroupKFold(FOLDS, shuffle=True, random_state=seed)
    else:
        folds, groups = KFold(FOLDS, shuffle=True, random_state=seed), None
    search = GridSearchCV(model, grid, cv=folds, scoring="neg_mean_absolute_error", refit=False)
    search.fit(x[train], y[train], groups=groups)
    final = model.set_params(**search.best_params_).fit(x[fit_rows], y[fit_rows])
    setting = {**_tuned(estimator, search), "cv_mae_train": round(float(-search.best_score_), 3)}
    return final.predict(x[test]), setting


def paired_bootstrap(errors: np.ndarray, reference: np.ndarray, draws: int = 2000, seed: int = 0) -> dict:
    """95 % CIs of MAE(errors) − MAE(reference) (evaluation.bootstrap, the seed table's) and of their ratio,
    resampling the same TEST videos for both.

    errors, reference: absolute errors [V] on the same videos."""
    interval = paired_interval(errors, reference, draws=draws, seed=seed)
    idx = np.random.default_rng(seed).integers(0, len(errors), size=(draws, len(errors)))
    ratio = errors[idx].mean(axis=1) / np.maximum(reference[idx].mean(axis=1), 1e-12)
    return {
        "mae_difference": round(interval.difference, 3),
        "mae_difference_ci95": [round(interval.low, 3), round(interval.high, 3)],
        "ratio_ci95": [round(float(v), 3) for v in np.percentile(ratio, [2.5, 97.5])],
    }


@dataclass(frozen=True)
class AuditResult:
    """TEST MAE of the mean predictor and of each pixel-only estimator, and the verdict."""

    test_videos: int
    fit_videos: int
    mean_predictor_mae: float
    estimators: dict[str, dict]
    max_ratio: float

    @property
    def best_ratio(self) -> float:
        return min(e["ratio_to_mean_predictor"] for e in self.estimators.values())

    @property
    def verdict(self) -> str:
        """ "shortcut" when some pixel-only estimator beats max_ratio × the mean predictor's MAE."""
        return "shortcut" if self.best_ratio < self.max_ratio else "no shortcut"

    def report(self) -> dict:
        return {
            "verdict": self.verdict, "max_ratio": self.max_ratio, "best_ratio": self.best_ratio,
            "test_videos": self.test_videos, "fit_videos": self.fit_videos,
            "mean_predictor_mae": self.mean_predictor_mae, "estimators": self.estimators,
        }  # fmt: skip


def shortcut_audit(
    features: PixelFeatures, table: pd.DataFrame, max_ratio: float = 0.85, seed: int = 0, draws: int = 2000
) -> AuditResult:
    """Fit every pixel-only estimator and the mean predictor on TRAIN+VAL, score them on TEST.

    Args:
        features: from `pixel_features`, rows in `table` order; table: manifest rows with Split and EF.
        max_ratio: an estimator below this fraction of the mean predictor's TEST MAE is a shortcut.
    Raises:
        ValueError: rows that do not match the features, or a split without videos.
    """
    if tuple(table.FileName) != features.names:
        raise ValueError("shortcut audit: the manifest rows are not the rows the features were computed from")
    split = table.Split.astype(str).str.upper()
    for name in ("TRAIN", "VAL", "TEST"):
        if not (split == name).any():
            raise ValueError(f"shortcut audit: no {name} videos in the manifest (Split column)")
    y = table.EF.to_numpy(dtype=float)
    fit_rows, test = split.isin(["TRAIN", "VAL"]).to_numpy(), (split == "TEST").to_numpy()
    reference = np.abs(y[fit_rows].mean() - y[test])
    estimators = {}
    for name in ESTIMATORS:
        predictions, setting = fit_estimator(name, features.matrix(name), table, seed)
        errors = np.abs(predictions - y[test])
        estimators[name] = {
            "mae": round(float(errors.mean()), 3),
            "ratio_to_mean_predictor": round(float(errors.mean() / reference.mean()), 3),
            **paired_bootstrap(errors, reference, draws, seed),
            "tuned": setting,
        }
    return AuditResult(
        int(test.sum()), int(fit_rows.sum()), round(float(reference.mean()), 3), estimators, max_ratio
    )


def shuffled_labels(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The negative control: the same rows with EF permuted across videos, so pixels carry no label."""
    out = table.copy()
    out["EF"] = np.random.default_rng(seed).permutation(out.EF.to_numpy())
    return out
