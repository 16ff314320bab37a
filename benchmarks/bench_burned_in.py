"""What the burned-in-text cleaning (ingest.burned_in) costs the anatomy, as JSON: on 50 text-free clips
(25 simulated clean ones and the same 25 at high severity, one perturbation kind each, in turn), each
enlarged to a 224² screen and round-tripped through MJPEG as an upload is, the share of in-sector pixels the
cleaning changes (native and in the 112² output) and the change of the EF a tiny packaged model serves on
the de-identified clip with and without the cleaning (the issue's bounds: ≤ 1 % and ≤ 0.5 points).
Beside them, on VENDOR_CLIPS text-free portable-scanner-style cines (tests/vendor_cine.py: JPEG YBR_FULL_422,
a still field outside the heart, the hard case for telling static text from tissue), the sector's IoU with
the drawn fan and the share of its pixels the cleaning changes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

N_CLIPS = 25  # simulated videos; each is measured clean and perturbed: 50 clips
SCREEN = 224
VENDOR_CLIPS = 10


def _vendor(root: Path) -> dict:
    """Sector IoU and cleaned share on VENDOR_CLIPS text-free vendor-style cines (read as ingest does)."""
    from ingest import burned_in
    from ingest.sector import locate
    from tests import vendor_cine as vc
    from ultrasound.dicom_io import read_dicom

    iou, cleaned = [], []
    for seed in range(VENDOR_CLIPS):
        path = vc.write_vendor_cine(root / f"vendor{seed}.dcm", vc.vendor_frames(100 + seed, overlays=False))
        frames = read_dicom(path, "x").frames
        found = locate(frames)
        if found is None:
            iou.append(0.0)
            continue
        iou.append(vc.fan_iou(found.mask))
        cleaned.append(float(burned_in.static_pixels(frames, found.mask).sum() / found.mask.sum()))
    return {
        "vendor_clips": VENDOR_CLIPS,
        "vendor_sector_iou_min": min(iou),
        "vendor_sector_iou_median": float(np.median(iou)),
        "vendor_in_sector_changed_share_mean": float(np.mean(cleaned)) if cleaned else None,
        "vendor_in_sector_changed_share_max": max(cleaned) if cleaned else None,
    }


def _clips(root: Path) -> list[tuple[np.ndarray, float]]:
    """(frames, fps) of the 50 text-free clips as a scanner would export and a client upload them."""
    from ultrasound.dataset import simulate_dataset
    from ultrasound.kinds import PERTURBATION_KINDS
    from ultrasound.perturbations import perturb
    from ultrasound.video_io import read_video, write_avi

    simulate_dataset(root / "sim", N_CLIPS, seed=31, cohort="adult", workers=1)
    out = []
    for i, path in enumerate(sorted((root / "sim" / "Videos").glob("*.avi"))):
        video = read_video(path)
        kind = PERTURBATION_KINDS[i % len(PERTURBATION_KINDS)]
        for frames in (video.frames, perturb(video.frames, kind, "high", i)):
            screen = np.stack([cv2.resize(f, (SCREEN, SCREEN)) for f in frames])
            out.append((read_video(write_avi(root / "upload.avi", screen, video.fps)).frames, video.fps))
    return out


def run() -> dict:
    from ingest import burned_in
    from ingest.deid import blank_and_resize, sector_mask
    from serving.predictor import Predictor
    from tests.packaged import build_packaged_model
    from ultrasound.video_io import Video

    root = Path(tempfile.mkdtemp(prefix="bench_burned_in_"))
    try:
        vendor = _vendor(root)
        model = build_packaged_model(root / "model")
        predictor = Predictor(model.model_dir, model.settings(), model_version=model.model_version)
        native, output, ef_change = [], [], []
        for frames, fps in _clips(root):
            mask = sector_mask(frames)
            if mask is None:
                continue
            cleaned, n_static = burned_in.clean_sector(frames, mask)
            before, after = blank_and_resize(frames, mask), blank_and_resize(cleaned, mask)
            sector = blank_and_resize(np.full((1, *mask.shape), 255, np.uint8), mask)[0] > 0
            native.append(n_static / mask.sum())
            output.append(float((before != after).any(axis=0)[sector].mean()))
            ef = [float(predictor.encode(predictor.clips(Video(c, fps))).ef.mean()) for c in (before, after)]
            ef_change.append(abs(ef[0] - ef[1]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "clips": len(native),
        "in_sector_changed_share_mean": float(np.mean(native)),
        "in_sector_changed_share_max": float(np.max(native)),
        "output_changed_share_mean": float(np.mean(output)),
        "output_changed_share_max": float(np.max(output)),
        "ef_change_mean": float(np.mean(ef_change)),
        "ef_change_max": float(np.max(ef_change)),
        **vendor,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
