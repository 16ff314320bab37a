"""What a served prediction leaves behind: its production-log row (no patient identifier) and, when
`serving.retain_clips` is on, its de-identified clip for retraining.

The optional client fields are made safe before they are stored: `study_id` becomes an HMAC pseudonym
(ingest.deid.pseudonym of kind "sop", the very value DICOM ingest gives that SOPInstanceUID, so a production
row of a study that is later labelled joins its label; the kind stays "sop" so logged rows keep joining),
`device` is reduced to a safe character set, `cohort` must be adult, pediatric or unknown.
Nothing from a DICOM header is read or kept.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest.burned_in import deidentified_clip
from ingest.deid import device_name, pseudonym
from serving.errors import BadInput
from serving.production_log import LOG_COLUMNS
from ultrasound.video_io import write_avi

log = logging.getLogger(__name__)

COHORTS = ("adult", "pediatric", "unknown")
MAX_FIELD = 256  # characters of an optional text field
RETAINED_SIZE = 112


def check_fields(study_id: str, device: str, cohort: str) -> tuple[str, str, str]:
    """The optional request fields, validated (BadInput 400) and normalised; the study id stays raw here
    and is only ever stored as its pseudonym."""
    for name, value in (("study_id", study_id), ("device", device), ("cohort", cohort)):
        if len(value or "") > MAX_FIELD:
            raise BadInput(f"the field {name} is longer than {MAX_FIELD} characters", 400, "bad_field")
    cohort = (cohort or "unknown").strip().lower()
    if cohort not in COHORTS:
        raise BadInput("the field cohort must be adult, pediatric or unknown", 400, "bad_field")
    return (study_id or "").strip(), device_name(device or "", ""), cohort


NO_SALT = (
    "this server has no de-identification salt, so it cannot keep a study_id; send the request without "
    "one, or set ECHOJEPA_DEID_SALT on the server"
)


class RecordMaker:
    """Production-log rows from predictions, with study ids pseudonymised by the ingest salt (None: the
    server has none, and refuses study ids rather than minting a salt of its own)."""

    def __init__(self, salt: bytes | None) -> None:
        self._salt = salt or None

    def check_study_id(self, study_id: str) -> None:
        """BadInput (400) for a study id this server cannot pseudonymise."""
        if study_id and self._salt is None:
            raise BadInput(NO_SALT, 400, "bad_field")

    def pseudonym(self, study_id: str) -> str:
        """ "" for no study id; otherwise its `dcm_` pseudonym (ingest.deid.pseudonym, kind "sop")."""
        if not study_id:
            return ""
        self.check_study_id(study_id)
        return pseudonym("sop", study_id, self._salt)

    def row(
        self, prediction: dict, *, study_id: str = "", device: str = "unknown", cohort: str = "unknown"
    ) -> dict:
        """One row of LOG_COLUMNS for a prediction dict (as Predictor.summarize returns it)."""
        quality = prediction["quality"]
        row = {
            "request_id": prediction["request_id"],
            "time": datetime.now(UTC),
            "model_version": prediction["model_version"],
            **{k: float(v) for k, v in quality["metrics"].items()},
            "warnings": ",".join(quality["causes"]),
            "degraded": bool(quality["degraded"]),
            "ef": float(prediction["ef"]),
            "view": prediction["view"],
            "view_probs": [float(p) for p in prediction["view_probabilities"].values()],
            "embedding": np.asarray(prediction["embedding"], dtype=np.float32),
            "latency_ms": float(prediction["latency_ms"]),
            "study_id": self.pseudonym(study_id),
            "device": device or "unknown",
            "cohort": cohort or "unknown",
        }
        return {name: row[name] for name in LOG_COLUMNS}


def retain_clip(frames: np.ndarray, folder: Path, request_id: str, day: str) -> Path | None:
    """Keep a de-identified copy of the video for retraining, cleaned as ingest cleans it: pixels outside the
    moving scan sector blanked, static pixels inside it (burned-in text) filled, cropped to the sector and
    resized to 112x112, written as a plain MJPEG AVI (no metadata) at `folder/date=<day>/<request_id>.avi`.
    None when the sector cannot be located (then the pixels cannot be cleaned and nothing is kept)."""
    clean = deidentified_clip(frames, RETAINED_SIZE)
    if clean is None:
        log.info(
            "retain_clips: request %s has no scan sector or too few frames to clean; not kept", request_id
        )
        return None
    return write_avi(Path(folder) / f"date={day}" / f"{request_id}.avi", clean)
