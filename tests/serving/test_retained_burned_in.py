"""A clip kept by `serving.retain_clips` carries no readable burned-in name (OCR), with the positive
control: the same function with the pixel cleaning switched off keeps a clip where OCR reads the name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest import burned_in
from serving.records import retain_clip
from tests.ocr import NAME, near_name, read_text, reads_name, tesseract, with_name_small
from ultrasound.dataset import simulate_dataset
from ultrasound.video_io import read_video, write_avi


@pytest.fixture(scope="module")
def named_upload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MJPEG AVI upload (as a client sends one) with NAME inside and outside the sector."""
    tmp = tmp_path_factory.mktemp("named_upload")
    simulate_dataset(tmp / "sim", 1, seed=5, cohort="adult", workers=1)
    video = read_video(next((tmp / "sim" / "Videos").glob("*.avi")))
    return write_avi(tmp / "named.avi", with_name_small(video.frames[:64]), video.fps)


def test_retained_clip_has_no_readable_name(
    named_upload: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tesseract()
    frames = read_video(named_upload).frames  # decoded as the service decodes an AVI upload
    kept = retain_clip(frames, tmp_path / "clips", "req-clean", "2026-01-01")
    assert kept is not None and NAME.encode() not in kept.read_bytes()
    clip = read_video(kept).frames
    for view in (clip[0], clip.mean(axis=0).astype(np.uint8)):
        text = read_text(view)
        assert not near_name(text), text

    monkeypatch.setattr(burned_in, "clean_sector", lambda frames, sector: (frames, 0))
    control = read_video(retain_clip(frames, tmp_path / "clips", "req-raw", "2026-01-01")).frames
    assert reads_name(read_text(control[0])), f"OCR cannot read {NAME} even uncleaned"
