"""The `echojepa` command line. Each command is a typed function whose docstring is its --help.

Commands register on `flows.app.app` from per-concern modules (data, model); this module adds the
image tools and the demo and is the entry point. Heavy libraries are imported inside the commands, so
`echojepa --help` stays instant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import flows.commands_experiment  # (registers experiment seed-table)
import flows.commands_monitoring  # (registers monitor, monitor ui)
import flows.commands_release  # (registers release, ledger, orchestrator, retrain)
import flows.commands_secrets  # noqa: F401  (registers secrets init)
import flows.commands_serving as commands_serving  # noqa: F401  (registers serve)
from flows import commands_data, commands_model  # noqa: F401  (registers their commands)
from flows.app import Kind, Severity, app
from flows.versioning import VersioningError
from release.model_store import use_project_model_store


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
def demo() -> None:
    """Run the platform end to end on synthetic data, as far as it reaches today, and say what happened.

    The pipeline runs through `dvc repro` (params.yaml decides sizes; unchanged stages are reused).
    """
    from demo.run import run_demo

    run_demo()


def main(argv: list[str] | None = None) -> None:
    """Entry point: known failures end with one line naming the problem and a non-zero exit."""
    use_project_model_store()
    # Prefect's telemetry heartbeat races its own first SQLite write on a fresh PREFECT_HOME and prints a
    # "database is locked" traceback (PrefectHQ/prefect#18934); the user's own setting wins
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app(argv if argv is not None else sys.argv[1:])
    except (ValueError, OSError, VersioningError) as exc:  # VideoError is a ValueError
        print(f"echojepa: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("echojepa: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
