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


def _overrides(pairs: list[str]) -> dict:
    """`section.key=value` pairs; values are read as YAML (numbers, lists, booleans)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"--set {pair!r}: expected section.key=value, e.g. optimization.steps=100")
        out[key] = yaml.safe_load(value)
    return out


@app.command
def pretrain(
    *,
    out: Path | None = None,
    params: Path = Path("params.yaml"),
    set: list[str] | None = None,
    resume: bool = True,
) -> None:
    """Pretrain a video encoder (JEPA, or the VideoMAE baseline) on `data.dataset`.

    Writes config.yaml, checkpoints/, metrics.json, loss.csv and encoder.pt. A killed run started again
    with the same --out resumes from its last checkpoint.

    Parameters
    ----------
    out
        Run folder; default models/METHOD-PRESET (e.g. models/jepa-tiny).
    params
        Parameter file (sections data, data_aug, model, mask, optimization, trainer).
    set
        Overrides as section.key=value, e.g. optimization.method=videomae trainer.devices=2.
    resume
        Continue from the run folder's last checkpoint when there is one.
    """
    from model.config import load_config
    from model.train import pretrain as run_pretrain

    config = load_config(params, _overrides(set or []))
    out = out or Path("models") / f"{config.optimization.method}-{config.model.preset}"
    metrics = run_pretrain(config, out, resume=resume)
    if metrics:
        loss = f"loss {metrics['first_loss']:.3f} → {metrics['final_loss']:.3f}"
        print(f"{out}: {metrics['steps']} steps in {metrics['seconds']:.0f} s, {loss}")


@app.command
def embed(
    *,
    encoder: Path | None = None,
    version: str | None = None,
    params: Path = Path("params.yaml"),
    set: list[str] | None = None,
    clips: int = 3,
) -> None:
    """Embed every video of `data.dataset` with a frozen encoder into data/embeddings/<version>/.

    Writes tokens.npy [videos, clips, tokens, width] (float16), pooled.npy and index.csv.

    Parameters
    ----------
    encoder
        encoder.pt of a pretraining run; omitted: a randomly initialised encoder (the baseline).
    version
        Embedding version name; default the run folder's name, or random-init.
    params
        Parameter file.
    set
        Overrides as section.key=value.
    clips
        Evenly spaced clips per video (test-time averaging).
    """
    from flows.progress import progress_bar
    from model.config import load_config
    from model.embed import embed_videos, load_encoder, write_embeddings

    config = load_config(params, _overrides(set or []))
    if encoder is not None and not encoder.is_file():
        raise ValueError(f"{encoder}: no such encoder file (run echojepa pretrain first)")
    version = version or (encoder.parent.name if encoder else "random-init")
    dataset = Path(config.data.root) / config.data.dataset
    if not (dataset / "FileList.csv").is_file():
        raise ValueError(f"{dataset}: no FileList.csv (simulate or ingest a dataset first)")
    n = sum(1 for _ in (dataset / "FileList.csv").open()) - 1
    with progress_bar(f"embed {config.data.dataset} ({version})", n) as advance:
        tokens, table = embed_videos(
            load_encoder(config, encoder),
            config,
            dataset,
            Path(config.data.cache) / config.data.dataset,
            clips,
            advance,
        )
    out = write_embeddings(tokens, table, Path("data/embeddings") / version)
    print(f"wrote {out} ({tokens.shape[0]} videos × {tokens.shape[1]} clips × {tokens.shape[2]} tokens)")


@app.command
def probe(
    embeddings: Path,
    *,
    tasks: list[str] | None = None,
    fractions: list[float] | None = None,
    seeds: list[int] | None = None,
    kind: Literal["attentive", "linear"] = "attentive",
    out: Path | None = None,
) -> None:
    """Fit frozen-encoder probes (EF regression, view classification) on a token cache; TEST metrics.

    Parameters
    ----------
    embeddings
        A data/embeddings/<version>/ folder written by `echojepa embed`.
    tasks
        ef and/or view.
    fractions
        Label fractions of the training split, stratified and seeded (at least 2 per class).
    seeds
        Probe seeds; metrics are mean ± std over them.
    kind
        attentive (cross-attention pooling) or linear (on mean-pooled tokens).
    out
        Results JSON; default reports/probes/VERSION-KIND.json.
    """
    from model.probe_eval import evaluate_probes, write_results
    from model.probes import ProbeSpec

    if not (embeddings / "tokens.npy").is_file():
        raise ValueError(f"{embeddings}: no tokens.npy (run echojepa embed first)")
    results = evaluate_probes(
        embeddings,
        tuple(tasks or ("ef", "view")),
        tuple(fractions or (0.01, 0.1, 1.0)),
        tuple(seeds or (0, 1, 2)),
        ProbeSpec(kind=kind),
    )
    path = write_results(results, out or Path("reports/probes") / f"{embeddings.name}-{kind}.json")
    for task, per in results["tasks"].items():
        if isinstance(per, str):
            print(f"{task}: {per}")
            continue
        for fraction, m in per.items():
            shown = {k: f"{v['mean']:.3f}±{v['std']:.3f}" for k, v in m.items() if isinstance(v, dict)}
            print(f"{task} @ {float(fraction):.0%} labels: {shown}")
    print(f"wrote {path}")


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
