"""EchoJEPA's robustness test: TEST videos degraded by an acoustic perturbation (parameters fixed per video
and seeded by the video's name, so a video keeps its shadow centre across severities and runs), re-embedded
by the frozen encoder and predicted by the unchanged EF probes. Only the perturbed videos are embedded; the
clean reference is the evaluation's own clean TEST MAE."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from evaluation.config import EvaluationConfig
from evaluation.results import NotMeasured
from evaluation.subgroups import mae
from model.config import PretrainConfig
from model.data import clip_starts, cut_clip, to_tensor
from model.probe_artifact import ProbeEnsemble
from model.vision_transformer import VideoViT
from ultrasound.perturbations import perturb

VIDEOS_PER_BATCH = 8  # encoder forward over 8 videos × clips at once


def video_rng(seed: int, name: str) -> np.random.Generator:
    """The per-video draw (shadow centre, wedge): a function of the seed and the file name only."""
    return np.random.default_rng([seed, zlib.crc32(str(name).encode())])


@torch.no_grad()
def embed_frames(
    encoder: VideoViT,
    config: PretrainConfig,
    videos: Sequence[Callable[[], np.ndarray]],
    clips_per_video: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Tokens [V, C, N, D] (float16, like model.embed) of videos given as loaders of uint8 [T, H, W],
    cut into the same evenly spaced clips as model.embed.embed_videos."""
    d = config.data
    span = d.frames * d.frame_step
    out = np.zeros((len(videos), clips_per_video, encoder.num_tokens, encoder.width), dtype=np.float16)
    for start in range(0, len(videos), VIDEOS_PER_BATCH):
        batch = []
        for load in videos[start : start + VIDEOS_PER_BATCH]:
            video = load()
            starts = clip_starts(len(video), span, clips_per_video)
            batch += [to_tensor(cut_clip(video, s, d.frames, d.frame_step), d.resolution) for s in starts]
        device = next(encoder.parameters()).device
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            tokens = encoder(torch.stack(batch).to(device))
        tokens = tokens.float().cpu().numpy().astype(np.float16)  # [B·C, N, D]
        out[start : start + len(batch) // clips_per_video] = tokens.reshape(
            -1, clips_per_video, *tokens.shape[1:]
        )
        if on_progress:
            on_progress(min(start + VIDEOS_PER_BATCH, len(videos)), len(videos))
    return out


def perturbed_tokens(
    encoder: VideoViT,
    config: PretrainConfig,
    cache_dir: Path,
    names: Sequence[str],
    kind: str,
    severity: str,
    seed: int,
    clips_per_video: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Tokens of cached videos after one perturbation applied to every frame."""

    def loader(name: str) -> Callable[[], np.ndarray]:
        path = Path(cache_dir) / f"{name}.npy"
        return lambda: perturb(np.load(path), kind, severity, video_rng(seed, name))

    return embed_frames(encoder, config, [loader(n) for n in names], clips_per_video, on_progress)


def robustness_table(clean: dict, settings: dict[tuple[str, str], np.ndarray], true: np.ndarray) -> dict:
    """Per kind × severity: the served (ensemble) MAE with the seeds' spread, and its relative increase over
    the clean MAE of the same probes.

    Args:
        clean: the clean TEST EF MAE summary ({value, mean, std}) of the same probes.
        settings: (kind, severity) -> per-seed predictions [S, n] on the perturbed videos.
    """
    rows = []
    for (kind, severity), preds in settings.items():
        ef_mae = mae(preds, true)
        rows.append({
            "kind": kind, "severity": severity, "ef_mae": ef_mae,
            "relative_increase": ef_mae["value"] / clean["value"] - 1.0,
        })  # fmt: skip
    if not rows:
        none = NotMeasured("no perturbation configured (evaluate.robustness_kinds)")
        return {"clean_ef_mae": clean, "settings": [], "mean_increase": none, "worst_increase": none}
    increases = [r["relative_increase"] for r in rows]
    worst = rows[int(np.argmax(increases))]
    return {
        "clean_ef_mae": clean,
        "settings": rows,
        "mean_increase": float(np.mean(increases)),
        "worst_increase": float(np.max(increases)),
        "worst_setting": f"{worst['kind']}/{worst['severity']}",
    }


def robustness_report(
    encoder: VideoViT, config: PretrainConfig, cache_dir: Path, names: Sequence[str], true: np.ndarray,
    ensemble: ProbeEnsemble, clean: dict, eval_config: EvaluationConfig, clips_per_video: int,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict:  # fmt: skip
    """Every kind × severity of `eval_config` on the named TEST videos, predicted by the unchanged served EF
    probes, relative to their `clean` TEST MAE summary, as `robustness_table` (the evaluation and the seed
    table both use it)."""
    settings = {}
    for kind in eval_config.robustness_kinds:
        for severity in eval_config.severities:
            phase = f"perturb {kind}/{severity}"
            progress = (lambda d, t, p=phase: on_progress(p, d, t)) if on_progress else None
            perturbed = perturbed_tokens(
                encoder, config, cache_dir, names, kind, severity, eval_config.perturbation_seed,
                clips_per_video, progress,
            )  # fmt: skip
            settings[(kind, severity)] = ensemble.per_seed(perturbed)
    return robustness_table(clean, settings, true)
