"""What every ingest path shares: the error type, the output layout, and writes that touch a file only when
its bytes would change.

Writing only on a difference is what makes re-ingesting an unchanged source a no-op: DVC sees no new hash,
mtimes stay put, and `IngestResult.changed` is False. The output folder is owned by ingest: files of the
layout that the new manifest no longer names (stale videos, an old VolumeTracings.csv) are removed.
"""

from __future__ import annotations

import csv
import datetime as dt
import filecmp
import io
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from release.durable import replace_durably
from ultrasound.dataset import FILELIST_COLUMNS

REJECT_COLUMNS = ["Source", "Reason"]
FILELIST, TRACINGS, REJECTS, VIDEOS = "FileList.csv", "VolumeTracings.csv", "ingest_rejects.csv", "Videos"
SPLITS = ("TRAIN", "VAL", "TEST")


class IngestError(ValueError):
    """A source that cannot be ingested; the message is one line that names the problem."""


class OutputWriter:
    """Writes one dataset folder, recording whether any byte on disk changed."""

    def __init__(self, out_dir: Path) -> None:
        self.out = Path(out_dir)
        self.videos = self.out / VIDEOS
        self.videos.mkdir(parents=True, exist_ok=True)
        self.changed = False

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write `data` to `out/rel` atomically, unless the file already holds exactly these bytes."""
        path = self.out / rel
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return
        replace_durably(path, data)  # fsynced before the rename: a crash leaves the old manifest or the new
        self.changed = True

    def write_csv(self, rel: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """A CSV with `\\n` line ends and no index: the same rows always give the same bytes."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        self.write_bytes(rel, buf.getvalue().encode())

    def copy_video(self, src: Path, name: str) -> None:
        """Copy a video byte-identically to Videos/<name>, skipping it when the copy is already identical."""
        dst = self.videos / name
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            return
        fd, tmp = tempfile.mkstemp(dir=self.videos, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        self.changed = True

    def place_video(self, tmp: Path, name: str) -> None:
        """Move a freshly encoded video into Videos/<name> if it differs from what is there, else drop it."""
        dst = self.videos / name
        if dst.is_file() and filecmp.cmp(tmp, dst, shallow=False):
            tmp.unlink()
            return
        os.replace(tmp, dst)
        self.changed = True

    def remove(self, rel: str) -> None:
        """Remove a layout file the new source no longer has."""
        path = self.out / rel
        if path.is_file():
            path.unlink()
            self.changed = True

    def prune_videos(self, keep: set[str]) -> None:
        """Delete Videos/*.avi that the manifest no longer names (and leftovers of interrupted writes)."""
        for path in sorted(self.videos.iterdir()):
            stale_tmp = path.name.startswith(".") and path.name.endswith(".tmp")
            if path.is_file() and (stale_tmp or (path.suffix == ".avi" and path.name not in keep)):
                path.unlink()
                self.changed = True

    def finish(self, rows: list[dict[str, str]], rejects: list[tuple[str, str]]) -> None:
        """Write FileList.csv (rows sorted by FileName, FILELIST_COLUMNS) and ingest_rejects.csv; prune."""
        rows = sorted(rows, key=lambda r: r["FileName"])
        self.write_csv(FILELIST, FILELIST_COLUMNS, ([r.get(c, "") for c in FILELIST_COLUMNS] for r in rows))
        self.write_csv(REJECTS, REJECT_COLUMNS, sorted(rejects))
        self.prune_videos({f"{r['FileName']}.avi" for r in rows})


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV as strings (values are copied verbatim, never re-formatted).

    Raises:
        IngestError: the file has no header.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise IngestError(f"{path}: empty CSV (no header)")
        header = [c.strip() for c in reader.fieldnames]
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    return header, rows


def previous_study_dates(out_dir: Path) -> dict[str, str]:
    """FileName → StudyDate of an earlier ingest into `out_dir`.

    The default StudyDate is the ingest date; reusing the first ingest's date keeps a re-ingest on a later
    day byte-identical (idempotence) and keeps the date's meaning: when the data entered the platform.
    """
    path = Path(out_dir) / FILELIST
    if not path.is_file():
        return {}
    try:
        _, rows = read_csv_rows(path)
    except (IngestError, OSError, UnicodeDecodeError, csv.Error):
        return {}
    return {r["FileName"]: r["StudyDate"] for r in rows if r.get("FileName") and r.get("StudyDate")}


def today() -> str:
    """The ingest date, ISO."""
    return dt.date.today().isoformat()


def strip_avi(name: str) -> str:
    """FileName without a trailing `.avi` (EchoNet-Dynamic's FileList omits it, its tracings and Pediatric
    keep it; the platform's manifest never has it)."""
    return name[:-4] if name.lower().endswith(".avi") else name


def probe_video(path: Path) -> dict[str, str]:
    """FrameHeight, FrameWidth, FPS and NumberOfFrames of a video, from the container when it declares a
    frame count (no decoding), else by decoding it. Only AVI and MP4 / MOV (by their first bytes) reach
    the demuxer, as a file object: an ffconcat list or HLS playlist named .avi opens nothing else.

    Raises:
        IngestError: the file is not a readable video.
    """
    import av

    from ultrasound.container_io import open_container
    from ultrasound.video_io import sniff_format

    with path.open("rb") as fh:
        kind = sniff_format(fh.read(256))
    if kind not in ("avi", "mov"):
        raise IngestError(f"{path.name}: not a readable video (not an AVI or MP4 file)")
    try:
        with open_container(path, kind) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate or stream.guessed_rate
            facts = {"FrameHeight": stream.height, "FrameWidth": stream.width, "FPS": float(rate or 0)}
            frames = int(stream.frames or 0) or sum(1 for _ in container.decode(stream))
    except (av.FFmpegError, IndexError) as exc:
        raise IngestError(f"{path.name}: not a readable video ({type(exc).__name__})") from None
    fps = facts["FPS"]
    return {
        "FrameHeight": str(facts["FrameHeight"]),
        "FrameWidth": str(facts["FrameWidth"]),
        "FPS": str(int(fps)) if fps == int(fps) else f"{fps:.3f}",
        "NumberOfFrames": str(frames),
    }


def hash_split(key: str) -> str:
    """TRAIN / VAL / TEST (75 / 12.5 / 12.5 %) from a stable hash of `key` (a patient id), so every study of
    one patient lands in the same split and the assignment never depends on ingest order."""
    import hashlib

    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 8
    return "TRAIN" if bucket < 6 else ("VAL" if bucket == 6 else "TEST")


def fill_defaults(row: dict[str, str], *, cohort: str, view: str, dates: dict[str, str]) -> dict[str, str]:
    """A manifest row with the Interfaces defaults for empty platform columns: View, PatientID=FileName,
    Cohort, Device=unknown, StudyDate = the first ingest's date. Other columns stay as the source has them."""
    out = {c: row.get(c, "") for c in FILELIST_COLUMNS}
    name = out["FileName"]
    out["View"] = out["View"] or view
    out["PatientID"] = out["PatientID"] or name
    out["Cohort"] = out["Cohort"] or cohort
    out["Device"] = out["Device"] or "unknown"
    out["StudyDate"] = out["StudyDate"] or dates.get(name) or today()
    return out
