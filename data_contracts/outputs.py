"""Validate's output folder, written so that a kill at any instant leaves the old outputs or the new ones.

FileList.csv and quarantine.csv are one result: accepted + quarantined must add up to the rows in. Two
files renamed one after the other would, after a kill between the renames, pair a new manifest with an
old quarantine. So the new files are written and fsynced into a staging folder beside the output, any
other file already in the output folder is hard-linked in, and the staging folder is swapped with the
output folder in one rename (release.durable.swap_in_dir). A staging folder left by a killed run is
removed by the next one.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from release.durable import fsync_dir, fsync_file, swap_in_dir

log = logging.getLogger(__name__)

WRITE_POINT = "validated-outputs"  # release.durable's fault hook sees the swap under this label


def _staging_prefix(out_dir: Path) -> str:
    return f".{out_dir.name}.validate-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove staging folders of `out_dir` whose validate process is gone; the folders removed."""
    removed = []
    for path in sorted(out_dir.parent.glob(_staging_prefix(out_dir) + "*")):
        pid = path.name.removeprefix(_staging_prefix(out_dir)).split(".")[0]
        if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log.info("validate: removed %d staging folders of killed runs", len(removed))
    return removed


def write_outputs(out_dir: Path, files: dict[str, bytes]) -> None:
    """Replace `files` (name -> bytes) in `out_dir` in one step, keeping its other files."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    staged = out_dir.parent / f"{_staging_prefix(out_dir)}{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    try:
        if out_dir.is_dir():
            for path in out_dir.iterdir():
                if path.name not in files:  # another stage's file: kept, without copying its bytes
                    if path.is_dir():
                        shutil.copytree(path, staged / path.name, copy_function=os.link, symlinks=True)
                    else:
                        os.link(path, staged / path.name, follow_symlinks=False)
        for name, data in files.items():
            (staged / name).write_bytes(data)
            fsync_file(staged / name)
        fsync_dir(staged)
        swap_in_dir(staged, out_dir, label=WRITE_POINT)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
