"""`echojepa demo`: the platform end to end on synthetic data.

Stages: the DVC pipeline (simulate → validate → prepare → pretrain → embed → features → probe →
evaluate with the release gates), the dataset summary, acoustic perturbations and the cause classifier on a
held-out clip; then (demo.production) the retrain flow up to its approval wait (registered by the demo
initiator's key), the demo reviewer's signed waiver of the failed gates and signed approval through the
CLI (a second generated key, demo.keys), packaging, `echojepa serve`, clean then degraded traffic, two
monitoring runs and the retrain run the drift event starts. A rerun reuses every stage whose inputs did
not change.
"""

from __future__ import annotations

from pathlib import Path

from config import PARAMS_FILE


def perturbation_check(video: Path, out: Path) -> list[tuple[str, str]]:
    """Perturb one clip with every kind at high severity and name each with the cause classifier:
    (applied, named) rows; the perturbed clips are written to `out` for people to inspect."""
    import numpy as np

    from ultrasound.causes import classify_causes
    from ultrasound.perturbations import PERTURBATION_KINDS, perturb
    from ultrasound.quality import quality_metrics
    from ultrasound.video_io import read_video, write_avi

    clip = read_video(video)
    rows = []
    for kind in ("none", *PERTURBATION_KINDS):
        frames = (
            clip.frames if kind == "none" else perturb(clip.frames, kind, "high", np.random.default_rng(0))
        )
        write_avi(out / f"{video.stem}_{kind}.avi", frames, clip.fps)
        verdict = classify_causes(quality_metrics(frames, clip.fps))
        rows.append((kind, ", ".join(verdict.causes) if verdict.degraded else "clean"))
    return rows


def run_demo(params_file: Path = PARAMS_FILE) -> None:
    """Run every stage that exists and print what happened and where to look.

    The pipeline runs through `dvc repro`, which reads params.yaml; `params_file` is what the demo's own
    reads and the `echojepa` commands it runs take (the same file unless a test points elsewhere).
    """
    from rich.console import Console

    from config.params import load_params
    from demo import report
    from demo.keys import retire_unsigned
    from demo.production import run_production
    from demo.shell import repro
    from demo.traffic import held_out_videos
    from flows.reports import print_dataset_summary

    params = load_params(params_file)  # a bad key fails here in one line, before minutes of pipeline
    layout = params.layout()
    demo = report.DemoLayout(layout)
    console = Console()
    console.rule("EchoJEPA demo")
    times: dict[str, float] = {}
    retire_unsigned(console, params.release)  # before `dvc repro`: evaluate reads production through it
    seconds = repro(console)
    times["pipeline (dvc repro: simulate … evaluate)"] = seconds
    console.print(f"[bold]pipeline[/] done in {seconds:.0f} s")
    print_dataset_summary(layout.data.dataset_dir)
    title = f"Pipeline results ({layout.data.dataset}, {layout.run_name})"
    console.print(report.table(title, ("stage", "result"), report.results_rows(layout)))
    checks = perturbation_check(held_out_videos(layout.data.dataset_dir, 1)[0], demo.perturbed)
    title = "Cause classifier on one test clip, each perturbation at 'high'"
    console.print(report.table(title, ("applied", "named"), checks))
    console.rule("release, serving, monitoring")
    production = run_production(console, params_file, params, times)
    console.rule("where to look")
    for line in [*report.where_to_look(layout, demo), *report.where_production(layout, production)]:
        console.print(line)
    console.print(report.table("Demo wall time per stage", ("stage", "seconds"), report.times_rows(times)))
    report.write_times(demo, times)
