"""Tables printed by the CLI: dataset summaries, realism versus EchoNet-Dynamic, per-video quality."""

from __future__ import annotations

from pathlib import Path

SHOWN_METRICS = (
    "brightness",
    "contrast",
    "speckle_snr",
    "sharpness",
    "depth_slope",
    "shadowed_share",
    "dropout_share",
)
# short headers, so the table stays whole on an 80-column terminal (the caption spells them out)
HEADERS = {"brightness": "bright", "contrast": "contr", "speckle_snr": "SNR", "sharpness": "sharp",
           "depth_slope": "depth", "shadowed_share": "shadow", "dropout_share": "drop"}  # fmt: skip


def _console():
    from rich.console import Console

    return Console()


def print_dataset_summary(folder: Path, realism_sample: int = 24) -> dict:
    """Counts by split, view, cohort and device; EF distribution; realism statistics of a sample of clips
    beside EchoNet-Dynamic's measured ranges. Returns the realism medians."""
    import numpy as np
    import pandas as pd
    from rich.table import Table

    from ultrasound.realism import ECHONET_RANGES, image_statistics
    from ultrasound.video_io import read_video

    df = pd.read_csv(folder / "FileList.csv")
    console = _console()
    counts = Table(title=f"{folder}: {len(df)} videos, {df.PatientID.nunique()} patients")
    for col in ("Split", "View", "Cohort", "Device"):
        counts.add_column(col)
    groups = [df[c].value_counts().sort_index() for c in ("Split", "View", "Cohort", "Device")]
    for i in range(max(len(g) for g in groups)):
        counts.add_row(*[f"{g.index[i]} {g.iloc[i]}" if i < len(g) else "" for g in groups])
    console.print(counts)
    ef = df.EF
    console.print(
        f"EF mean {ef.mean():.1f} sd {ef.std():.1f} range {ef.min():.1f}–{ef.max():.1f}; "
        f"reduced (<40 %) {100 * (ef < 40).mean():.0f} %; frames median {df.NumberOfFrames.median():.0f}"
    )
    names = df.FileName.iloc[: min(realism_sample, len(df))]
    stats = pd.DataFrame([image_statistics(read_video(folder / "Videos" / f"{n}.avi").frames) for n in names])
    realism = Table(title=f"Realism: median of {len(names)} clips vs real EchoNet-Dynamic A4C clips")
    for col in ("statistic", "simulated", "real median", "real range", "inside"):
        realism.add_column(col)
    medians = {}
    for key in stats.columns:
        med, lo, hi = ECHONET_RANGES[key]
        value = float(np.median(stats[key]))
        medians[key] = value
        realism.add_row(
            key, f"{value:.3g}", f"{med:g}", f"{lo:g}–{hi:g}", "yes" if lo <= value <= hi else "NO"
        )
    console.print(realism)
    return medians


def print_quality(videos: list[Path], console=None) -> None:
    """One row per video: the main quality metrics and the cause classifier's verdict."""
    from rich import box
    from rich.table import Table

    from ultrasound.causes import classify_causes
    from ultrasound.quality import quality_metrics
    from ultrasound.video_io import read_video

    legend = ", ".join(f"{HEADERS[m]} = {m}" for m in SHOWN_METRICS)
    table = Table(
        title="Image quality", caption=legend, box=box.SIMPLE, pad_edge=False, collapse_padding=True
    )
    table.add_column("video", overflow="fold", min_width=10)
    for metric in SHOWN_METRICS:
        table.add_column(HEADERS[metric], justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True, min_width=len("depth_attenuation") + 1)
    for path in videos:
        video = read_video(path)
        metrics = quality_metrics(video.frames, video.fps)
        verdict = classify_causes(metrics)
        label = ", ".join(verdict.causes) if verdict.degraded else "clean"
        table.add_row(Path(path).name, *[f"{metrics[m]:.2g}" for m in SHOWN_METRICS], label)
    (console or _console()).print(table)
