"""The `echojepa` command line as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from ultrasound.video_io import read_video

CLI = [sys.executable, "-m", "flows.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_help_is_fast_and_lists_commands() -> None:
    start = time.perf_counter()
    out = run("--help")
    elapsed = time.perf_counter() - start
    assert out.returncode == 0
    for command in ("simulate", "perturb", "quality", "demo"):
        assert command in out.stdout
    assert elapsed < 5  # generous for a loaded CI machine; the benchmark measures the real figure


def test_simulate_then_perturb_a_dataset_and_a_file(tmp_path: Path) -> None:
    data = tmp_path / "sim"
    out = run("simulate", "--out", str(data), "--n-videos", "4", "--seed", "3", "--cohort", "pediatric")
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(data / "FileList.csv")
    assert len(table) == 4 and (table.Cohort == "pediatric").all()
    assert (data / "simulation.json").exists()

    shadowed = tmp_path / "shadowed"
    out = run("perturb", str(data), str(shadowed), "--kind", "gaussian_shadow", "--severity", "medium")
    assert out.returncode == 0, out.stderr
    assert (shadowed / "FileList.csv").read_text() == (data / "FileList.csv").read_text()
    name = table.FileName.iloc[0]
    before = read_video(data / "Videos" / f"{name}.avi").frames
    after = read_video(shadowed / "Videos" / f"{name}.avi").frames
    assert after.shape == before.shape and after.mean() < before.mean()

    single = tmp_path / "one.avi"
    out = run("perturb", str(data / "Videos" / f"{name}.avi"), str(single), "--kind", "blur")
    assert out.returncode == 0 and read_video(single).n_frames == len(before)

    out = run("quality", str(data / "Videos" / f"{name}.avi"), str(single))
    assert out.returncode == 0 and "blur" in out.stdout


def test_bad_input_gives_one_line_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.avi"
    bogus.write_bytes(b"not a video at all" * 10)
    out = run("perturb", str(bogus), str(tmp_path / "o.avi"), "--kind", "blur")
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith(f"echojepa: error: {bogus}: not an AVI, MP4, MOV or DICOM file")

    out = run("perturb", str(bogus), str(tmp_path / "o.avi"), "--kind", "fog")
    assert out.returncode != 0 and "fog" in out.stdout + out.stderr

    out = run("simulate", "--out", str(tmp_path / "x"), "--n-videos", "0")
    assert out.returncode == 1 and "n-videos must be positive" in out.stderr


def test_model_store_belongs_to_the_checkout(tmp_path: Path) -> None:
    """Two checkouts on one machine get two BentoML stores (each pairs with its own ledger); an explicit
    $BENTOML_HOME still wins."""
    code = (
        "import os, contextlib; from flows.cli import main\n"
        "with contextlib.suppress(SystemExit): main(['--help'])\n"
        "print(os.environ['BENTOML_HOME'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "BENTOML_HOME"}
    for checkout in ("a", "b"):
        (tmp_path / checkout).mkdir()
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path / checkout, env=env, capture_output=True, text=True
        )
        assert out.stdout.strip().splitlines()[-1] == str(tmp_path / checkout / "models" / "bentoml")
    env["BENTOML_HOME"] = str(tmp_path / "shared")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == str(tmp_path / "shared")
