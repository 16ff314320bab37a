"""EchoNet-Dynamic and EchoNet-Pediatric folders → the platform's EchoNet layout.

EchoNet-Dynamic: FileList.csv (nine columns, FileName without `.avi`), VolumeTracings.csv, Videos/.
EchoNet-Pediatric: one sub-folder per view (A4C/, PSAX/) with the same three entries; its Split is a 10-fold
index 0–9 and its FileList carries Sex/Age/Weight/Height, which are quasi-identifiers the platform does not
use, so only the platform's columns are kept. Videos are copied byte-identically: re-encoding would change
the pixels the published labels were made on. FileName and PatientID are pseudonymised unless the source is
already de-identified (ingest.echonet_names); tracings and videos follow their row's new FileName.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ingest.common import (
    FILELIST,
    SPLITS,
    TRACINGS,
    VIDEOS,
    IngestError,
    OutputWriter,
    fill_defaults,
    hash_split,
    previous_study_dates,
    probe_video,
    read_csv_rows,
    strip_avi,
)
from ingest.echonet_names import NAMES_FILE, Naming, choose_naming
from ultrasound.anatomy import VIEWS

FRAME_FACTS = ("FrameHeight", "FrameWidth", "FPS", "NumberOfFrames")
KNOWN_VIEWS = VIEWS  # the platform's view vocabulary
# EchoNet-Pediatric ships ten folds; eight train, one validates, one tests (the split its authors report)
DEFAULT_FOLD_MAP: dict[str, list[int]] = {"TRAIN": [0, 1, 2, 3, 4, 5, 6, 7], "VAL": [8], "TEST": [9]}

Progress = Callable[[int, int], None]


def view_folders(src: Path) -> list[Path]:
    """EchoNet-Pediatric view sub-folders (named after a known view, holding a FileList.csv), sorted."""
    if not src.is_dir():
        return []
    found = [
        p for p in src.iterdir() if p.is_dir() and p.name.upper() in KNOWN_VIEWS and (p / FILELIST).is_file()
    ]
    return sorted(found, key=lambda p: p.name.upper())


def detect_layout(src: Path) -> str | None:
    """ "echonet-dynamic" (FileList.csv at the top), "echonet-pediatric" (view sub-folders) or None."""
    if (src / FILELIST).is_file():
        return "echonet-dynamic"
    if view_folders(src):
        return "echonet-pediatric"
    return None


def resolve_fold_map(fold_map: Mapping[str, Sequence[int]] | None) -> dict[int, str]:
    """fold → split from the configured split → folds mapping (default DEFAULT_FOLD_MAP).

    Raises:
        IngestError: an unknown split name, or a fold listed under two splits.
    """
    by_fold: dict[int, str] = {}
    for split, folds in (fold_map or DEFAULT_FOLD_MAP).items():
        name = str(split).upper()
        if name not in SPLITS:
            raise IngestError(f"fold map: unknown split {split!r}; expected {', '.join(SPLITS)}")
        for fold in folds:
            if int(fold) in by_fold:
                raise IngestError(f"fold map: fold {fold} is listed under {by_fold[int(fold)]} and {name}")
            by_fold[int(fold)] = name
    return by_fold


def map_split(value: str, folds: dict[int, str], where: str) -> str:
    """A source Split value → TRAIN/VAL/TEST: split names pass through, fold indices go through the map.

    Raises:
        IngestError: a fold the map does not cover (a configuration error worth stopping for).
    """
    text = value.strip().upper()
    if text.isdigit():
        if int(text) not in folds:
            known = ", ".join(str(f) for f in sorted(folds))
            raise IngestError(f"{where}: fold {int(text)} is not in the fold map (maps folds {known})")
        return folds[int(text)]
    return text


class _Collector:
    """Rows, tracings and rejects gathered over one or more EchoNet folders, then written once."""

    def __init__(
        self,
        out: OutputWriter,
        fold_map: dict[int, str],
        cohort: str,
        progress: Progress | None,
        naming: Naming,
        total: int = 0,
    ) -> None:
        self.out, self.folds, self.cohort, self.naming = out, fold_map, cohort, naming
        self.progress, self.total, self.done = progress, total, 0
        self.dates = previous_study_dates(out.out)
        self.rows: list[dict[str, str]] = []
        self.rejects: list[tuple[str, str]] = []
        self.tracing_columns: list[str] = []
        self.tracings: list[dict[str, str]] = []
        self.names: set[str] = set()  # manifest FileNames (pseudonyms when pseudonymising)

    def add_folder(self, folder: Path, view: str, prefix: str, force_view: bool = False) -> None:
        """Add one FileList.csv + Videos/ (+ VolumeTracings.csv) folder; `prefix` names it in rejects.
        `view` fills an empty View; with `force_view` it replaces the source's (the folder names the view)."""
        header, source_rows = read_csv_rows(folder / FILELIST)
        if "FileName" not in header:
            raise IngestError(f"{folder / FILELIST}: no FileName column (columns: {', '.join(header)})")
        accepted: dict[str, str] = {}  # source FileName -> manifest FileName
        total = self.total or len(source_rows)
        for src_row in source_rows:
            original = strip_avi(src_row["FileName"])
            name = self.naming.file_name(original)
            video = folder / VIDEOS / f"{original}.avi"
            reason = self._reject_reason(original, name, video)
            if reason is None:
                row = {k: v for k, v in src_row.items() if not (force_view and k == "View")}
                row["FileName"] = name
                row["PatientID"] = self.naming.patient(row.get("PatientID", ""))
                try:
                    row = self._complete(row, video, view, where=f"{prefix}{FILELIST}")
                except _Unreadable:
                    reason = "unreadable_video"
            if reason is not None:
                self.rejects.append((self.naming.source(f"{prefix}{VIDEOS}/{original}.avi"), reason))
            else:
                self.out.copy_video(video, f"{name}.avi")
                self.rows.append(row)
                self.names.add(name)
                accepted[original] = name
            self.done += 1
            if self.progress:
                self.progress(self.done, total)
        if (folder / TRACINGS).is_file():
            self._add_tracings(folder / TRACINGS, accepted)

    def _reject_reason(self, original: str, name: str, video: Path) -> str | None:
        if not original:
            return "empty_filename"
        if "/" in original or "\\" in original or original.startswith("."):
            return "unsafe_filename"  # would read (kept verbatim: write) outside Videos/ or hide the file
        if name in self.names:
            return "duplicate_filename"
        if not video.is_file():
            return "video_missing"
        return None

    def _complete(self, row: dict[str, str], video: Path, view: str, where: str) -> dict[str, str]:
        if any(not row.get(c) for c in FRAME_FACTS):
            try:
                measured = probe_video(video)
            except IngestError:
                raise _Unreadable from None
            row.update({c: row.get(c) or measured[c] for c in FRAME_FACTS})
        row = fill_defaults(row, cohort=self.cohort, view=view, dates=self.dates)
        split = row["Split"]
        row["Split"] = map_split(split, self.folds, where) if split else hash_split(row["PatientID"])
        return row

    def _add_tracings(self, path: Path, accepted: dict[str, str]) -> None:
        header, rows = read_csv_rows(path)
        self.tracing_columns += [c for c in header if c not in self.tracing_columns]
        for row in rows:
            original = strip_avi(row.get("FileName", ""))
            if original in accepted:
                row["FileName"] = accepted[original]
                self.tracings.append(row)

    def write(self) -> None:
        if self.tracings:
            cols = self.tracing_columns
            self.out.write_csv(TRACINGS, cols, ([r.get(c, "") for c in cols] for r in self.tracings))
        else:
            self.out.remove(TRACINGS)
        self.out.write_bytes(NAMES_FILE, self.naming.record())
        self.out.finish(self.rows, self.rejects)


class _Unreadable(Exception):
    pass


def listed_names(folder: Path) -> list[str]:
    """The FileNames a folder's FileList.csv lists, without `.avi`."""
    return [strip_avi(r.get("FileName", "")) for r in read_csv_rows(folder / FILELIST)[1]]


def ingest_dynamic(
    src: Path,
    out: OutputWriter,
    fold_map: Mapping[str, Sequence[int]] | None,
    progress: Progress | None,
    *,
    salt_file: Path,
    already_deidentified: bool = False,
) -> _Collector:
    """An EchoNet-Dynamic folder into `out`; returns the collector (rows, rejects, naming decision)."""
    folds = resolve_fold_map(fold_map)
    naming = choose_naming(listed_names(src), already_deidentified=already_deidentified, salt_file=salt_file)
    collector = _Collector(out, folds, cohort="adult", progress=progress, naming=naming)
    collector.add_folder(src, view="A4C", prefix="")
    collector.write()
    return collector


def ingest_pediatric(
    src: Path,
    out: OutputWriter,
    fold_map: Mapping[str, Sequence[int]] | None,
    progress: Progress | None,
    *,
    salt_file: Path,
    already_deidentified: bool = False,
) -> _Collector:
    """An EchoNet-Pediatric folder (view sub-folders) into `out`; View from the folder, Cohort=pediatric.
    The names of all view folders decide together whether they are pseudonymised.

    Raises:
        IngestError: one FileName in two view folders (the manifest's key must be unique).
    """
    folders, folds = view_folders(src), resolve_fold_map(fold_map)
    listed = {folder: listed_names(folder) for folder in folders}
    every = [name for names in listed.values() for name in names]
    naming = choose_naming(every, already_deidentified=already_deidentified, salt_file=salt_file)
    seen: dict[str, str] = {}
    for folder, names in listed.items():
        clash = sorted(set(names) & set(seen))
        if clash:
            where = f"{seen[clash[0]]}/ and {folder.name}/"
            shown = naming.file_name(clash[0])  # an original name never reaches a message when pseudonymising
            raise IngestError(f"{src}: FileName {shown} is in both {where}; FileNames must be unique")
        seen.update(dict.fromkeys(names, folder.name))
    collector = _Collector(out, folds, cohort="pediatric", progress=progress, naming=naming, total=len(every))
    for folder in folders:
        collector.add_folder(folder, view=folder.name.upper(), prefix=f"{folder.name}/", force_view=True)
    collector.write()
    return collector
