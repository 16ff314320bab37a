"""A folder of clinical echo DICOM files → de-identified 112×112 clips in the platform's EchoNet layout.

Each usable file (multi-frame ultrasound with decodable pixels) becomes `Videos/<pseudonym>.avi` and one
manifest row built only from generated values (see ingest.deid). EF/ESV/EDV stay empty: clinical clips arrive
unlabelled and feed JEPA pretraining. Every unusable file is written to ingest_rejects.csv as a salted hash
of its relative path plus a reason code from a fixed list, never a free-text message that might echo a path
or a tag value, so the rejects file is as safe to share as the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from ingest import burned_in
from ingest.common import OutputWriter, fill_defaults, hash_split, previous_study_dates
from ingest.deid import Pseudonymizer, device_name, load_salt, view_hint
from ingest.sector import image_regions

log = logging.getLogger(__name__)

FRAME_SIZE = 112
# VideoError.reason → reject reason (VideoError messages may carry the path, so only codes are kept)
VIDEO_REASONS = {
    "not_a_video": "unreadable_dicom",
    "no_pixel_data": "no_pixel_data",
    "unsupported_codec": "undecodable_pixels",
    "truncated": "truncated_pixels",
    "no_frames": "no_frames",
    "empty": "empty_file",
    "not_found": "unreadable_file",
    "too_large_decoded": "too_large_decoded",
    "frame_size_changed": "truncated_pixels",
}
DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")


class _Reject(Exception):
    """A file that cannot be used; `reason` is a fixed code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dicom_files(src: Path) -> tuple[Path, list[Path]]:
    """The root that relative paths start from, and every file under `src` (or `src` itself), sorted."""
    if src.is_file():
        return src.parent, [src]
    return src, sorted(p for p in src.rglob("*") if p.is_file())


def _text(ds, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _header(path: Path):
    """The DICOM dataset with large values (the pixels) deferred, so it is cheap to read; or a reject."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path), defer_size=1024)
    except (InvalidDicomError, EOFError):
        raise _Reject("not_dicom") from None
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        raise _Reject("unreadable_dicom") from None


def _view(ds) -> str | None:
    texts = [_text(ds, "SeriesDescription"), _text(ds, "ViewName")]
    for item in ds.get("ViewCodeSequence") or []:
        texts.append(_text(item, "CodeMeaning"))
    return view_hint(*texts)


def _fps_text(fps: float) -> str:
    return str(int(fps)) if float(fps).is_integer() else f"{fps:.3f}"


@contextlib.contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings and log lines while files are read: they quote invalid tag values, and a
    tag value may be a name or an MRN."""
    pydicom_log = logging.getLogger("pydicom")
    level = pydicom_log.level
    pydicom_log.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pydicom_log.setLevel(level)


class DicomIngest:
    """One pass over a DICOM folder: rows and rejects, videos placed through the OutputWriter."""

    def __init__(
        self, out: OutputWriter, salt_file: Path, max_decoded_mb: float | None = None,
        burned_in_policy: str = "clean",
    ) -> None:  # fmt: skip
        from ultrasound.video_io import DecodeLimits

        if burned_in_policy not in burned_in.BURNED_IN_POLICIES:
            raise ValueError(f"burned_in must be clean or reject, not {burned_in_policy!r}")
        self.out = out
        self.burned_in = burned_in_policy
        # the header's decoded size is checked before any frame is decoded (read_video)
        self.limits = DecodeLimits(
            max_decoded_bytes=None if max_decoded_mb is None else int(max_decoded_mb * 2**20)
        )
        self.pseudo = Pseudonymizer(load_salt(salt_file))
        self.dates = previous_study_dates(out.out)
        self.rows: list[dict[str, str]] = []
        self.rejects: list[tuple[str, str]] = []
        self._instances: set[str] = set()
        self.records: dict[str, dict] = {}  # FileName -> its PS3.15 de-identification record

    def run(self, src: Path, progress: Callable[[int, int], None] | None = None) -> None:
        root, files = dicom_files(src)
        for done, path in enumerate(files, 1):
            try:
                with _quiet_pydicom():
                    self.rows.append(self._one(path))
            except _Reject as rej:
                self._reject(root, path, rej.reason)
            except OSError:
                raise  # the output side (disk full, permissions): not a property of this file
            except Exception as exc:  # any other decoder failure: one bad file must not stop the rest
                log.warning("file %d of %d could not be processed (%s)", done, len(files), type(exc).__name__)
                self._reject(root, path, "processing_error")
            if progress:
                progress(done, len(files))
        self.out.remove("VolumeTracings.csv")
        kept = {r["FileName"] for r in self.rows}
        records = {name: rec for name, rec in sorted(self.records.items()) if name in kept}
        self.out.write_bytes(burned_in.RECORD_FILE, (json.dumps(records, indent=1) + "\n").encode())
        self.out.finish(self.rows, self.rejects)
        log.info("DICOM ingest: %d clips, %d rejected", len(self.rows), len(self.rejects))

    def _reject(self, root: Path, path: Path, reason: str) -> None:
        self.rejects.append((self.pseudo.source(path.relative_to(root).as_posix()), reason))

    def _one(self, path: Path) -> dict[str, str]:
        from ultrasound.video_io import VideoError, read_video

        ds = _header(path)
        modality = _text(ds, "Modality").upper()
        if modality and modality != "US":
            raise _Reject("not_ultrasound")
        if "PixelData" not in ds:
            raise _Reject("no_pixel_data")
        try:
            frames_declared = int(ds.get("NumberOfFrames") or 1)
        except (TypeError, ValueError):
            frames_declared = 1
        if frames_declared < 2:
            raise _Reject("single_frame")
        if _text(ds, "BurnedInAnnotation").upper() == "YES" and self.burned_in == "reject":
            raise _Reject("burned_in_annotation")
        instance = _text(ds, "SOPInstanceUID") or _text(
            getattr(ds, "file_meta", {}), "MediaStorageSOPInstanceUID"
        )
        if not instance:  # no UID: the file's content identifies the clip
            instance = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        name = self.pseudo.file_name(instance)
        if name in self._instances:
            raise _Reject("duplicate_instance")
        try:
            video = read_video(path, name, self.limits)
        except VideoError as exc:
            raise _Reject(VIDEO_REASONS.get(exc.reason, "unreadable_dicom")) from None
        if video.n_frames < 2:
            raise _Reject("single_frame")
        if video.n_frames < burned_in.MIN_FRAMES:  # too few to tell burned-in text from speckle
            raise _Reject("too_few_frames")
        done = burned_in.deidentify(video.frames, FRAME_SIZE, image_regions(ds, video.frames.shape[1:]))
        if done is None:
            raise _Reject("sector_not_found")
        clip, sector = done
        self._write_avi(clip, video.fps, f"{name}.avi")
        self._instances.add(name)
        patient_key = _text(ds, "PatientID")
        patient_key = (
            f"id:{patient_key}" if patient_key else f"study:{_text(ds, 'StudyInstanceUID') or instance}"
        )
        patient = self.pseudo.patient(patient_key)
        raw_date = next((_text(ds, k) for k in DATE_KEYWORDS if _text(ds, k)), "")
        self.records[name] = burned_in.record(modified_dates=bool(raw_date), sector=sector.record(FRAME_SIZE))
        row = {
            "FileName": name,
            "FrameHeight": str(FRAME_SIZE),
            "FrameWidth": str(FRAME_SIZE),
            "FPS": _fps_text(video.fps),
            "NumberOfFrames": str(video.n_frames),
            "Split": hash_split(patient),
            "View": _view(ds) or "",
            "PatientID": patient,
            "Device": device_name(_text(ds, "Manufacturer"), _text(ds, "ManufacturerModelName")),
            "StudyDate": self.pseudo.study_date(raw_date, patient_key) if raw_date else "",
        }
        return fill_defaults(row, cohort="adult", view="A4C", dates=self.dates)

    def _write_avi(self, clip, fps: float, name: str) -> None:
        """Encode into a temporary file beside the target, then let the writer keep or drop it."""
        from ultrasound.video_io import write_avi

        fd, tmp = tempfile.mkstemp(dir=self.out.videos, prefix=f".{name}.", suffix=".tmp.avi")
        os.close(fd)
        write_avi(tmp, clip, fps)
        self.out.place_video(Path(tmp), name)
