"""The `echojepa` command line. Each command is a typed function whose docstring is its --help.

Heavy libraries are imported inside the commands, so `echojepa --help` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from cyclopts import App

app = App(
    name="echojepa",
    help="EchoJEPA platform: echocardiography videos from raw files to a monitored production model.",
    version_flags=[],
)

Kind = Literal[
    "depth_attenuation", "gaussian_shadow", "gain_drift", "dynamic_range", "blur", "sector_dropout"
]
Severity = Literal["low", "medium", "high"]
Cohort = Literal["adult", "pediatric", "mixed"]


@app.command
def simulate(
    out: Path = Path("data/raw/synthetic"),
    *,
    n_videos: int = 300,
    seed: int = 0,
    cohort: Cohort = "adult",
    workers: int = 0,
) -> None:
    """Write a synthetic echocardiography dataset in EchoNet-Dynamic layout.

    FileList.csv, VolumeTracings.csv and Videos/*.avi (112×112, 50 fps), plus SimulationFactors.csv
    (hidden factors: heart rate, ED/ES frames) and simulation.json (the resolved settings).

    Parameters
    ----------
    out
        Dataset folder to write.
    n_videos
        Number of videos (studies) to render.
    seed
        Random seed; the same seed gives the same dataset.
    cohort
        adult, pediatric, or mixed (30 % pediatric patients).
    workers
        Rendering processes; 0 uses every core.
    """
    from flows.progress import progress_bar
    from ultrasound.dataset import simulate_dataset

    with progress_bar(f"simulating {n_videos} videos", n_videos) as advance:
        filelist = simulate_dataset(out, n_videos, seed, cohort, workers or None, on_progress=advance)
    print(f"wrote {n_videos} videos to {filelist.parent} ({filelist.name}, VolumeTracings.csv, Videos/)")


@app.command
def perturb(
    src: Path,
    dst: Path,
    *,
    kind: Kind,
    severity: Severity = "high",
    seed: int = 0,
) -> None:
    """Apply an acoustic perturbation to one video, or to every video of an EchoNet-layout folder.

    Parameters are fixed per video (EchoJEPA's robustness protocol); pixels outside the sector are kept.

    Parameters
    ----------
    src
        A video file (AVI, MP4, DICOM) or a dataset folder holding FileList.csv and Videos/.
    dst
        Output AVI file, or output dataset folder (FileList.csv and VolumeTracings.csv are copied).
    kind
        Perturbation kind.
    severity
        low, medium or high.
    seed
        Seed of the per-video random draws (shadow centre, dropout wedge).
    """
    from flows.progress import progress_bar
    from ultrasound.perturb_files import perturb_dataset, perturb_file

    if src.is_dir():
        n = len(list((src / "Videos").glob("*")))
        with progress_bar(f"{kind} ({severity})", n) as advance:
            count = perturb_dataset(src, dst, kind, severity, seed, on_progress=advance)
        print(f"wrote {count} perturbed videos to {dst}")
    else:
        perturb_file(src, dst, kind, severity, seed)
        print(f"wrote {dst}")


@app.command
def quality(videos: list[Path]) -> None:
    """Print image-quality metrics and the likely degradation cause of each video.

    Parameters
    ----------
    videos
        Video files (AVI, MP4, DICOM).
    """
    from flows.reports import print_quality

    print_quality(videos)


@app.command
def demo(*, out: Path = Path("data/raw/synthetic"), n_videos: int = 300, seed: int = 0) -> None:
    """Run the platform end to end on synthetic data, as far as it reaches today, and say what happened.

    Parameters
    ----------
    out
        Dataset folder for the simulated data.
    n_videos
        Videos to simulate.
    seed
        Random seed.
    """
    from flows.demo import run_demo

    run_demo(out, n_videos, seed)


def main(argv: list[str] | None = None) -> None:
    """Entry point: known failures end with one line naming the problem and a non-zero exit."""
    try:
        app(argv if argv is not None else sys.argv[1:])
    except (ValueError, OSError) as exc:  # VideoError is a ValueError
        print(f"echojepa: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("echojepa: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
