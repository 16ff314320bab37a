"""`validate` SIGKILLed mid-run (a real subprocess), at three points: while its suites run, right before
its outputs are swapped in, right after. Each time FileList.csv is the old or the new one whole, its
quarantine.csv is the one of the same run (rows in = accepted + quarantined), other files in the output
folder are kept, and the next run removes what the killed one left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from data_contracts import validate_dataset
from data_contracts.outputs import WRITE_POINT
from tests.configs import section
from tests.packaged import REPO

CONTRACT = section("validation")
# kill itself at argv[4]: "mid" (every video measured, suites about to run), or "before" / "after" the swap
CHILD = f"""
import os, signal, sys
from pathlib import Path
from data_contracts import validate_dataset
from release import durable
from tests.configs import section
point = sys.argv[4]
kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
durable.set_fault_hook(lambda label, when: kill() if label == {WRITE_POINT!r} and when == point else None)
progress = lambda done, total: kill() if point == "mid" and done == total else None
validate_dataset(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), section("validation"), progress)
print("not killed")
"""


def _pair(out: Path) -> tuple[bytes, bytes]:
    return (out / "FileList.csv").read_bytes(), (out / "quarantine.csv").read_bytes()


def _rows(path: Path) -> int:
    return len(pd.read_csv(path, dtype=str))


def test_a_killed_validate_leaves_the_old_or_the_new_outputs_whole(
    contract_dir: Path, contract_table: pd.DataFrame, make_variant: Callable[..., Path], tmp_path: Path
) -> None:
    out, reports = tmp_path / "validated", tmp_path / "reports"
    validate_dataset(contract_dir, out, reports, CONTRACT)
    (out / "notes.txt").write_text("another stage's file")
    old = _pair(out)
    broken = contract_table.copy()
    broken.loc[[2, 5, 7], "EF"] = "150"  # three rows the new run quarantines
    changed = make_variant(broken, name="changed")
    expected = validate_dataset(changed, tmp_path / "expected", tmp_path / "expected-reports", CONTRACT)
    new = _pair(tmp_path / "expected")
    assert (expected.accepted, expected.quarantined) == (21, 3) and old != new

    for point, leaves in (("mid", old), ("before", old), ("after", new)):
        returncode, output = _run_child(changed, out, reports, point, tmp_path / f"{point}.log")
        assert returncode == -signal.SIGKILL, (point, output[-2000:])
        assert _pair(out) == leaves, point  # both files of one run, whole
        assert _rows(out / "FileList.csv") + _rows(out / "quarantine.csv") == 24
        assert (out / "notes.txt").read_text() == "another stage's file"
        left = list(tmp_path.glob(".validated.validate-*"))
        if point == "before":  # the new outputs were complete, fsynced, and not yet visible
            assert [p.name for p in left] == [f".validated.validate-{_pid(left[0])}"]
            assert _pair(left[0]) == new
    assert left  # the "after" kill came before the old folder was removed

    validate_dataset(changed, out, reports, CONTRACT)  # the next run cleans up after the killed ones
    assert _pair(out) == new and not list(tmp_path.glob(".validated.validate-*"))
    assert (out / "notes.txt").is_file()


def _pid(path: Path) -> str:
    return path.name.rsplit("-", 1)[1].split(".")[0]


def _run_child(data: Path, out: Path, reports: Path, point: str, log: Path) -> tuple[int, str]:
    """Run CHILD in a session of its own; output to a file, since the decode pool's workers outlive a
    SIGKILLed parent for a moment and would hold a pipe open. Its session is killed after it."""
    with log.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data), str(out), str(reports), point], cwd=REPO,
            env=os.environ | {"PYTHONPATH": str(REPO)}, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            returncode = child.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
    return returncode, log.read_text()


MEASURE_CHILD = """
import sys, time
from pathlib import Path
import pandas as pd
from data_contracts.facts import measure_facts
table = pd.read_csv(Path(sys.argv[1]) / "FileList.csv", dtype=str)
table = pd.concat([table] * 40, ignore_index=True)  # long enough to be killed mid-way
measure_facts(Path(sys.argv[1]), table, workers=2, on_progress=lambda d, t: print(d, flush=True))
"""


def test_a_killed_measurement_takes_its_decode_workers_with_it(contract_dir: Path) -> None:
    import psutil

    child = subprocess.Popen(
        [sys.executable, "-c", MEASURE_CHILD, str(contract_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    workers: list[psutil.Process] = []
    try:
        assert child.stdout is not None and child.stdout.readline().strip()  # the pool is measuring
        workers = psutil.Process(child.pid).children()
        assert len(workers) == 2
        child.kill()
        child.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, [p.pid for p in alive]  # not orphaned, decoding on
    finally:
        child.kill()
        for worker in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
