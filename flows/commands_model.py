"""Model commands: pretrain an encoder, embed a dataset with it, fit the served probes, evaluate and gate.

Every path comes from the run layout of the parameter file (config.layout), so the DVC stages, the flows and
a person at the terminal read and write the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from config import PARAMS_FILE
from flows.app import app

if TYPE_CHECKING:
    from release.config import ReleaseConfig


@app.command
def pretrain(
    *,
    out: Path | None = None,
    params: Path = PARAMS_FILE,
    set: list[str] | None = None,
    resume: bool = True,
) -> None:
    """Pretrain a video encoder (JEPA; the VideoMAE or supervised-from-scratch baseline) on `data.dataset`.

    Writes config.yaml, checkpoints/, metrics.json, loss.csv and encoder.pt. A killed run started again
    with the same --out resumes from its last checkpoint.

    Parameters
    ----------
    out
        Run folder; default the layout's models/METHOD-PRESET (e.g. models/jepa-tiny).
    params
        Parameter file (sections data, data_aug, model, mask, optimization, trainer).
    set
        Overrides as section.key=value, e.g. optimization.method=videomae trainer.devices=2.
    resume
        Continue from the run folder's last checkpoint when there is one.
    """
    from config.params import load_params
    from model.train import pretrain as run_pretrain

    config = load_params(params, set or [])
    out = out or config.layout().run_dir
    metrics = run_pretrain(config.pretrain, out, resume=resume)
    if metrics:
        print(f"{out}: {metrics['steps']} steps in {metrics['seconds']:.0f} s, {loss_summary(metrics)}")


def loss_summary(metrics: dict) -> str:
    """ "loss 0.753 → 0.412" (first and last ten steps), or the one figure when the run was too short to
    have a first and a last ten."""
    if metrics["steps"] <= 10:
        return f"loss {metrics['final_loss']:.3f} over {metrics['steps']} steps"
    return f"loss {metrics['first_loss']:.3f} → {metrics['final_loss']:.3f}"


@app.command
def embed(*, encoder: Path | None = None, params: Path = PARAMS_FILE, set: list[str] | None = None) -> None:
    """Embed every video of `data.dataset` with the run's frozen encoder into its token cache.

    Reads the validated manifest when the validate stage has written one. Writes tokens.npy
    [videos, clips, tokens, width] (float16), pooled.npy and index.csv into data/embeddings/RUN/, with
    probe.clips_per_video evenly spaced clips per video.

    Parameters
    ----------
    encoder
        encoder.pt to embed with; default the run's (the layout's models/METHOD-PRESET/encoder.pt).
    params
        Parameter file.
    set
        Overrides as section.key=value.
    """
    import pandas as pd

    from config.params import load_params
    from flows.progress import progress_bar
    from model.embed import embed_videos, load_encoder, write_embeddings

    config = load_params(params, set or [])
    layout = config.layout()
    encoder = encoder or layout.encoder
    if not encoder.is_file():
        raise ValueError(f"{encoder}: no such encoder file (run echojepa pretrain first)")
    manifest = layout.data.manifest
    if not manifest.is_file():
        raise ValueError(f"{manifest}: no manifest (simulate or ingest a dataset first)")
    n = len(pd.read_csv(manifest))
    with progress_bar(f"embed {config.data.dataset} ({layout.run_name})", n) as advance:
        tokens, table = embed_videos(
            load_encoder(config.pretrain, encoder), config.pretrain, layout.data.dataset_dir,
            layout.data.cache_dir, config.probe.clips_per_video, advance, manifest,
        )  # fmt: skip
    out = write_embeddings(tokens, table, layout.embeddings_dir)
    print(f"wrote {out} ({tokens.shape[0]} videos × {tokens.shape[1]} clips × {tokens.shape[2]} tokens)")


@app.command
def probe(
    *,
    source: Literal["manifest", "feast"] = "manifest",
    params: Path = PARAMS_FILE,
    set: list[str] | None = None,
) -> None:
    """Fit the frozen-encoder probes (EF regression, view classification) on the run's token cache.

    The one probe protocol (evaluation.probe_protocol): TRAIN fits the lr × wd grid of heads, VAL selects
    (one head: TRAIN+VAL fits), TEST scores, at probe.fractions of the labels,
    one probe per probe.seeds; the 100 % probes of every seed are saved as the served ensemble
    (models/RUN/probes/<task>/seed-<n>.pt, which `evaluate` gates and packaging ships), with the training
    frame beside them; metrics and TEST predictions go to reports/probes/.

    Parameters
    ----------
    source
        Where labels come from: the embeddings' own manifest, or Feast's point-in-time training frame
        (the store of the features section, written by `echojepa features`).
    params
        Parameter file (section probe).
    set
        Overrides as section.key=value, e.g. probe.seeds=[0] probe.kind=linear.
    """
    from config.params import load_params
    from evaluation.probe_protocol import manifest_frame
    from evaluation.probe_stage import run_probe_stage

    config = load_params(params, set or [])
    frame_source = manifest_frame
    if source == "feast":
        from features.training import feast_frame_source

        store = config.features
        frame_source = feast_frame_source(store.root_path(), None, store.missing_labels, store.project)
    for line in run_probe_stage(config, frame_source, label_source=source):
        print(line)


@app.command
def evaluate(*, params: Path = PARAMS_FILE, set: list[str] | None = None, strict: bool = False) -> None:
    """Evaluate the run's encoder with its served probes and check the release gates; writes
    reports/evaluation.json, reports/model_card.html and the run's monitoring reference.

    Robustness under the acoustic perturbations, pediatric zero-shot, subgroups, and the same-run
    baselines (random-init encoder, mean predictor); no-regression against the production model that the
    release ledger names. Failed gates are listed (the retrain flow acts on them); with --strict the
    command also exits non-zero.

    Parameters
    ----------
    params
        Parameter file (sections evaluate, gates, probe, release and the model sections).
    set
        Overrides as section.key=value.
    strict
        Exit non-zero when a gate fails.
    """
    import hashlib

    from config.params import load_params
    from evaluation.comparisons import baseline_lines
    from evaluation.evaluate import evaluate_candidate
    from evaluation.gates import GateCounts, failed_gates, rows
    from evaluation.model_card import write_report
    from flows.versioning import data_version

    config = load_params(params, set or [])
    layout = config.layout()
    if not layout.encoder.is_file():
        raise ValueError(f"{layout.encoder}: no such encoder file (run echojepa pretrain first)")
    weights = hashlib.sha256(layout.encoder.read_bytes()).hexdigest()[:12]
    stage = json.loads(layout.probe_metrics.read_text()) if layout.probe_metrics.is_file() else None
    report = evaluate_candidate(
        config, production_report=(production := _production_report(config.release)),
        data_version=data_version(), model_version=f"{layout.run_name}@{weights}", probe_stage=stage,
    )  # fmt: skip
    # which production model the no-regression gates compared with (None: first release); the retrain flow
    # reruns a reused report when production has changed since
    report["compared_with"] = None if production is None else production.get("model_version")
    json_path, html_path = write_report(report, layout.reports_dir)
    gates = rows(report["gates"])
    print(f"wrote {json_path} and {html_path}: {GateCounts.of(gates)}")
    for line in baseline_lines(report):
        print(f"  {line}")
    for warning in report.get("warnings", []):
        print(f"  WARNING {warning}")
    for line in failed_gates(gates):
        print(f"  FAILED {line}")
    for g in gates:
        if g.advisory and not g.passed:
            print(f"  {g.label}: {g.failure()}")
    if strict and failed_gates(gates):
        raise ValueError(f"{len(failed_gates(gates))} gate(s) failed: " + "; ".join(failed_gates(gates)))


def _production_report(settings: ReleaseConfig) -> dict | None:
    """The production model's evaluation.json, resolved through the verified release ledger (None: first
    release)."""
    if not Path(settings.ledger).is_file():
        return None
    from release.ledger import open_ledger
    from release.package import production_model

    model = production_model(open_ledger(settings))
    if model is None:
        return None
    return json.loads(Path(model.path_of("evaluation.json")).read_text())
