"""`ingest_source`: one entry point for every kind of source the platform accepts.

A local folder's layout is detected (EchoNet-Dynamic, EchoNet-Pediatric, else DICOM files); an `s3://`
prefix is downloaded to a staging folder beside the output and then ingested the same way, so S3 and local
ingests of the same files give byte-identical outputs. Logs carry counts and pseudonyms only, never a name,
an identifier or a source path of clinical data. DICOM is always de-identified; an EchoNet-layout source's
FileName / PatientID are pseudonymised unless it is already de-identified (ingest.echonet_names).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ingest.burned_in import RECORD_FILE
from ingest.common import IngestError, OutputWriter
from ingest.deid import DEFAULT_SALT_FILE
from ingest.echonet_names import NAMES_FILE, PSEUDONYMISED

log = logging.getLogger(__name__)

KINDS = ("echonet-dynamic", "echonet-pediatric", "dicom", "s3")


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did.

    Attributes:
        kind: echonet-dynamic, echonet-pediatric, dicom, or s3 (for any s3:// source).
        layout: the folder layout found (equals `kind` except for s3, where it is what the prefix held).
        rows: clips in the output manifest.
        rejected: source files (or manifest rows) that could not be used; listed in ingest_rejects.csv.
        out_dir: the dataset folder written.
        changed: whether any output file was created, rewritten or removed.
        names: what happened to the source's FileNames: "FileNames pseudonymised" (always for DICOM), or
            why they were kept verbatim (ingest.echonet_names: KEPT_FLAG, KEPT_FORM).
    """

    kind: str
    layout: str
    rows: int
    rejected: int
    out_dir: Path
    changed: bool
    names: str = PSEUDONYMISED


def detect_source(src: Path) -> str:
    """The layout of a local source: echonet-dynamic, echonet-pediatric or dicom.

    Raises:
        IngestError: missing, or a folder with no files at all.
    """
    from ingest.echonet import detect_layout

    if not src.exists():
        raise IngestError(f"{src}: no such file or folder")
    if src.is_dir():
        layout = detect_layout(src)
        if layout:
            return layout
        if not any(p.is_file() for p in src.rglob("*")):
            raise IngestError(
                f"{src}: empty folder (expected FileList.csv, A4C/ and PSAX/ folders, or DICOM files)"
            )
    return "dicom"


def _check_paths(src: Path, out_dir: Path) -> None:
    s, o = src.resolve(), out_dir.resolve()
    if s == o or o.is_relative_to(s) or (s.is_dir() and s.is_relative_to(o)):
        raise IngestError(f"{out_dir}: the output folder must not overlap the source {src}")


def _ingest_local(
    src: Path,
    out_dir: Path,
    salt_file: Path,
    fold_map: Mapping[str, Sequence[int]] | None,
    on_progress: Callable[[int, int], None] | None,
    max_decoded_mb: float | None,
    burned_in: str,
    already_deidentified: bool,
) -> tuple[str, int, int, bool, str]:
    layout = detect_source(src)
    out = OutputWriter(out_dir)
    if layout == "dicom":
        from ingest.dicom import DicomIngest

        run = DicomIngest(out, salt_file, max_decoded_mb, burned_in)
        run.run(src, on_progress)
        out.remove(NAMES_FILE)  # an EchoNet-layout ingest's naming record must not outlive its clips
        rows, rejects, names = run.rows, run.rejects, PSEUDONYMISED
    else:
        from ingest.echonet import ingest_dynamic, ingest_pediatric

        ingest = ingest_dynamic if layout == "echonet-dynamic" else ingest_pediatric
        collected = ingest(
            src, out, fold_map, on_progress, salt_file=salt_file, already_deidentified=already_deidentified
        )
        out.remove(RECORD_FILE)  # a DICOM ingest's record must not outlive its clips
        rows, rejects, names = collected.rows, collected.rejects, collected.naming.decision
    return layout, len(rows), len(rejects), out.changed, names


def ingest_source(
    src: str | Path,
    out_dir: Path,
    *,
    endpoint_url: str | None = None,
    salt_file: Path = DEFAULT_SALT_FILE,
    fold_map: Mapping[str, Sequence[int]] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    max_decoded_mb: float | None = None,
    burned_in: str = "clean",
    already_deidentified: bool = False,
) -> IngestResult:
    """Bring a source into `out_dir` in the platform's EchoNet layout (FileList.csv, VolumeTracings.csv when
    the source has tracings, Videos/*.avi, ingest_rejects.csv, and for DICOM deidentification.json: each
    clip's PS3.15 de-identification record; for an EchoNet layout identifiers.json: whether its FileNames
    were pseudonymised).

    Idempotent: an unchanged source rewrites nothing (`changed` is False) and the outputs are deterministic.

    Args:
        src: a local folder (EchoNet-Dynamic, EchoNet-Pediatric, or DICOM files, searched recursively), one
            DICOM file, or `s3://bucket/prefix` holding any of those.
        endpoint_url: S3 endpoint (else ECHOJEPA_S3_ENDPOINT / AWS_ENDPOINT_URL); credentials come from the
            environment or boto3's standard chain only.
        salt_file: de-identification salt, used when ECHOJEPA_DEID_SALT is unset; created (0600) if missing
            (an EchoNet-layout source whose names are kept needs none).
        fold_map: EchoNet-Pediatric split → folds, e.g. {"TRAIN": [0..7], "VAL": [8], "TEST": [9]} (default).
        burned_in: what a DICOM with BurnedInAnnotation = YES gets: "clean" (its pixels cleaned like every
            file's, recorded) or "reject" (listed in ingest_rejects.csv as `burned_in_annotation`).
        on_progress: called as (done, total), the platform's progress convention: files processed; an s3://
            source first reports bytes downloaded, then files.
        max_decoded_mb: a DICOM whose header declares more decoded pixel data is rejected before its
            pixels are decoded (`too_large_decoded`); None: no bound (params.yaml `ingest.max_decoded_mb`).
        already_deidentified: keep an EchoNet-layout source's FileName and PatientID verbatim (else they
            are salted pseudonyms unless every FileName is EchoNet's `0X` + 16 hex form); DICOM ignores it.

    Raises:
        IngestError: a one-line reason (missing source, bad layout, S3 access, fold map, ...).
    """
    from ingest.s3 import download_prefix, is_s3_url, staging_folder

    out_dir = Path(out_dir)
    ingest_folder = partial(
        _ingest_local,
        out_dir=out_dir,
        salt_file=salt_file,
        fold_map=fold_map,
        on_progress=on_progress,
        max_decoded_mb=max_decoded_mb,
        burned_in=burned_in,
        already_deidentified=already_deidentified,
    )
    if is_s3_url(src):
        with staging_folder(out_dir.parent) as staging:
            n = download_prefix(str(src), Path(staging), endpoint_url=endpoint_url, on_progress=on_progress)
            log.info("downloaded %d objects", n)
            layout, rows, rejected, changed, names = ingest_folder(Path(staging))
        kind = "s3"
    else:
        src = Path(src)
        if src.exists():
            _check_paths(src, out_dir)
        layout, rows, rejected, changed, names = ingest_folder(src)
        kind = layout
    log.info("ingested %s: %d rows, %d rejected, changed=%s; %s", layout, rows, rejected, changed, names)
    return IngestResult(kind, layout, rows, rejected, out_dir, changed, names)
