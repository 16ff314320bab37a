"""De-identification of clinical DICOM: pseudonyms from a secret salt, shifted dates, a controlled view
vocabulary, and the pixels outside the ultrasound sector blanked.

The approach follows the DICOM PS3.15 basic profile's idea, but stricter: nothing from the header is copied
into the output. The manifest only carries values generated here (salted hashes, a shifted date, a view token
from a fixed list, a sanitised device name). Burned-in text (name, MRN, date, institution) outside the
fan-shaped scan sector is blanked with everything else there (the sector is where the pixels *move*); text
drawn inside the sector's hull is static too and is filled by ingest.burned_in before the blanking here.

Pseudonyms are keyed hashes (HMAC-SHA256) with a salt kept out of git: without the salt nobody can test a
guessed MRN against a pseudonym; with it, the same patient always maps to the same pseudonym, so patient-level
splits and grouping survive across ingests. `pseudonym(kind, value, salt)` is the one function behind every
pseudonym: DICOM ingest's FileName / PatientID, EchoNet-layout ingest's (ingest.echonet_names), rejected
paths, and serving's study id, so anything keyed on a study joins across them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from ultrasound.anatomy import VIEWS

SALT_ENV = "ECHOJEPA_DEID_SALT"
DEFAULT_SALT_FILE = Path(".secrets/deid_salt")
# dates move 30–395 days into the past, one shift per patient: intervals between a patient's studies are
# kept, no date lands in the future (point-in-time feature joins need event times ≤ now)
SHIFT_MIN_DAYS, SHIFT_SPAN_DAYS = 30, 366
# view tokens a SeriesDescription / ViewName may hold; only the matched platform view is ever emitted
VIEW_PATTERNS = {
    "A4C": r"\b(A4C|A4CH|AP4|AP 4|4CH|4 CH|APICAL 4|4 CHAMBER|FOUR CHAMBER)\b",
    "A2C": r"\b(A2C|A2CH|AP2|AP 2|2CH|2 CH|APICAL 2|2 CHAMBER|TWO CHAMBER)\b",
    "PLAX": r"\b(PLAX|PARASTERNAL LONG|PARASTERNAL LAX)\b",
    "PSAX": r"\b(PSAX|SAX|PARASTERNAL SHORT|SHORT AXIS)\b",
    "SUBCOSTAL": r"\b(SUBCOSTAL|SUBXIPHOID|SC4C|SUBC)\b",
}
assert set(VIEW_PATTERNS) <= set(VIEWS)


MIN_SALT_BYTES = 32  # a keyed hash is only as strong as its key: shorter salts are refused everywhere


class SaltError(ValueError):
    """A de-identification salt that is missing, empty or too short (one line)."""


def create_salt(salt_file: Path = DEFAULT_SALT_FILE) -> bool:
    """Create the salt file (64 random hex characters, mode 0600, in a folder with a `.gitignore` of `*`)
    unless it exists; True when this call created it. `echojepa secrets init` and a first ingest call it;
    serving never does (each replica would mint its own and its pseudonyms would never join ingest's)."""
    path = Path(salt_file)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        (path.parent / ".gitignore").write_text("*\n")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # already there (another process may have created it first): keep it
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return True


def check_salt(salt: str, source: str) -> bytes:
    """The salt's bytes; SaltError naming `source` when it is empty or shorter than MIN_SALT_BYTES."""
    data = salt.strip().encode()
    if len(data) < MIN_SALT_BYTES:
        raise SaltError(
            f"the de-identification salt in {source} is {len(data)} bytes; at least {MIN_SALT_BYTES} are "
            "needed (`echojepa secrets init` makes one)"
        )
    return data


def load_salt(salt_file: Path = DEFAULT_SALT_FILE) -> bytes:
    """The de-identification salt: env ECHOJEPA_DEID_SALT, else `salt_file`, created once (create_salt) when
    missing. SaltError when it is shorter than MIN_SALT_BYTES."""
    env = os.environ.get(SALT_ENV, "").strip()
    if env:
        return check_salt(env, SALT_ENV)
    path = Path(salt_file)
    create_salt(path)
    return check_salt(path.read_text(), str(path))


# each kind's prefix keeps CSV readers from parsing an all-digit or `1e5`-like hash as a number; "path" (a
# rejected file's relative path) has none. The kinds and prefixes are part of the data: changing one renames
# every clip already ingested and breaks the join of production logs to their labels.
PSEUDONYM_PREFIXES = {
    "sop": "dcm_",  # a DICOM's SOPInstanceUID, and serving's study id (a client sends the study's UID)
    "patient": "pt_",  # a PatientID (keyed `id:<PatientID>`, else `study:<StudyInstanceUID>`)
    "echonet": "en_",  # an EchoNet-layout FileName
    "path": "",  # a rejected source file's relative path
}


def _keyed_hash(kind: str, value: str, salt: bytes) -> str:
    return hmac.new(salt, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()


def pseudonym(kind: str, value: str, salt: bytes) -> str:
    """The pseudonym of `value`: PSEUDONYM_PREFIXES[kind] + 16 hex of HMAC-SHA256(salt, kind NUL value).

    The kind is hashed with the value: one string gives unrelated pseudonyms as a FileName and as a patient.

    Raises:
        ValueError: a kind not in PSEUDONYM_PREFIXES.
    """
    if kind not in PSEUDONYM_PREFIXES:
        raise ValueError(f"unknown pseudonym kind {kind!r}; expected one of {', '.join(PSEUDONYM_PREFIXES)}")
    return PSEUDONYM_PREFIXES[kind] + _keyed_hash(kind, value, salt)[:16]


class Pseudonymizer:
    """Keyed, deterministic pseudonyms (all from `pseudonym`) and date shifts for one salt."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def file_name(self, instance_uid: str) -> str:
        """FileName of a DICOM clip: `dcm_` + 16 hex of the salted SOPInstanceUID."""
        return pseudonym("sop", instance_uid, self._salt)

    def echonet_name(self, file_name: str) -> str:
        """FileName of an EchoNet-layout clip: `en_` + 16 hex of the salted source FileName (no `.avi`)."""
        return pseudonym("echonet", file_name, self._salt)

    def patient(self, patient_key: str) -> str:
        """PatientID pseudonym: `pt_` + 16 hex of the salted patient key (`id:<PatientID>`, ...)."""
        return pseudonym("patient", patient_key, self._salt)

    def source(self, rel_path: str) -> str:
        """A rejected file's relative path as 16 hex (paths may hold names); recompute it to find the file."""
        return pseudonym("path", rel_path, self._salt)

    def study_date(self, raw: str, patient_id: str) -> str:
        """StudyDate (DICOM DA `YYYYMMDD`) moved back by the patient's shift, ISO; "" if absent or invalid."""
        try:
            real = datetime.strptime(raw.strip()[:8], "%Y%m%d").date()
        except ValueError:
            return ""
        draw = int(_keyed_hash("dateshift", patient_id, self._salt)[:8], 16)
        shift = SHIFT_MIN_DAYS + draw % SHIFT_SPAN_DAYS
        try:
            return (real - timedelta(days=shift)).isoformat()
        except OverflowError:
            return date.min.isoformat()


def view_hint(*texts: str) -> str | None:
    """A platform view read from free-text tags, or None; only a token of VIEW_PATTERNS can come out (the
    text itself is never copied). Two different views in the text count as no hint."""
    words = " ".join(re.sub(r"[^A-Z0-9]+", " ", t.upper()) for t in texts if t)
    found = {view for view, pattern in VIEW_PATTERNS.items() if re.search(pattern, words)}
    return found.pop() if len(found) == 1 else None


def device_name(manufacturer: str, model: str) -> str:
    """Manufacturer + model (not identifying; PS3.15 keeps them), restricted to a safe character set."""
    text = re.sub(r"[^A-Za-z0-9 ._+-]+", " ", f"{manufacturer} {model}")
    return re.sub(r"\s+", " ", text).strip()[:64] or "unknown"


def sector_mask(frames: np.ndarray) -> np.ndarray | None:
    """The ultrasound sector of a clip as bool [H, W], found from its pixels alone (`ingest.sector.locate`,
    which also reads a header's regions); None when it cannot be located and the pixels cannot be cleaned."""
    from ingest.sector import locate

    sector = locate(frames)
    return None if sector is None else sector.mask


def blank_and_resize(frames: np.ndarray, mask: np.ndarray, size: int = 112) -> np.ndarray:
    """Zero every pixel outside `mask`, crop to the sector's bounding box, pad it to a square (centred, so the
    aspect ratio is kept) and resize to size×size: uint8 [T, size, size]."""
    import cv2

    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = np.where(mask[None, y0:y1, x0:x1], frames[:, y0:y1, x0:x1], 0).astype(np.uint8)
    keep = mask[y0:y1, x0:x1].astype(np.uint8)
    ch, cw = keep.shape
    side = max(ch, cw)
    top, left = (side - ch) // 2, (side - cw) // 2
    pad = ((top, side - ch - top), (left, side - cw - left))
    crop = np.pad(crop, ((0, 0), *pad))
    keep = cv2.resize(np.pad(keep, pad), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)
    interp = cv2.INTER_AREA if side >= size else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in crop])
    out[:, ~keep] = 0  # interpolation must not smear anything back outside the sector
    return out
