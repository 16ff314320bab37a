"""Model commands: pretrain an encoder, embed a dataset with it, fit frozen-encoder probes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from flows.app import app, load_section, overrides


@app.command
def pretrain(
    *,
    out: Path | None = None,
    params: Path = Path("params.yaml"),
    set: list[str] | None = None,
    resume: bool = True,
) -> None:
    """Pretrain a video encoder (JEPA; the VideoMAE or supervised-from-scratch baseline) on `data.dataset`.

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

    config = load_config(params, overrides(set or []))
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
    """Embed every video of `data.dataset` with a frozen encoder into data/embeddings/VERSION/.

    Reads the validated manifest when the validate stage has written one. Writes tokens.npy
    [videos, clips, tokens, width] (float16), pooled.npy and index.csv.

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
    import pandas as pd

    from flows.progress import progress_bar
    from model.config import load_config
    from model.data import manifest_path
    from model.embed import embed_videos, load_encoder, write_embeddings

    config = load_config(params, overrides(set or []))
    if encoder is not None and not encoder.is_file():
        raise ValueError(f"{encoder}: no such encoder file (run echojepa pretrain first)")
    version = version or (encoder.parent.name if encoder else "random-init")
    dataset, manifest = Path(config.data.root) / config.data.dataset, manifest_path(config.data)
    if not manifest.is_file():
        raise ValueError(f"{manifest}: no manifest (simulate or ingest a dataset first)")
    n = len(pd.read_csv(manifest))
    with progress_bar(f"embed {config.data.dataset} ({version})", n) as advance:
        tokens, table = embed_videos(
            load_encoder(config, encoder), config, dataset, Path(config.data.cache) / config.data.dataset,
            clips, advance, manifest,
        )  # fmt: skip
    out = write_embeddings(tokens, table, Path("data/embeddings") / version)
    print(f"wrote {out} ({tokens.shape[0]} videos × {tokens.shape[1]} clips × {tokens.shape[2]} tokens)")


@app.command
def probe(
    embeddings: Path,
    *,
    tasks: list[str] | None = None,
    fractions: list[float] | None = None,
    seeds: list[int] | None = None,
    kind: Literal["attentive", "linear"] | None = None,
    source: Literal["manifest", "feast"] = "manifest",
    params: Path = Path("params.yaml"),
    out: Path | None = None,
    save_probes_to: Path | None = None,
) -> None:
    """Fit frozen-encoder probes (EF regression, view classification) on a token cache; TEST metrics.

    Writes the metrics JSON and, beside it, TEST predictions (<out stem>_predictions_<task>.csv) for
    predicted-vs-true plots.

    Parameters
    ----------
    embeddings
        A data/embeddings/VERSION/ folder written by `echojepa embed`.
    tasks
        ef and/or view (default: probe.tasks).
    fractions
        Label fractions of the training split, stratified and seeded, at least 2 per class
        (default: probe.fractions).
    seeds
        Probe seeds; metrics are mean ± std over them (default: probe.seeds).
    kind
        attentive (cross-attention pooling) or linear (on mean-pooled tokens) (default: probe.kind).
    source
        Where labels come from: the embeddings' own manifest, or Feast's point-in-time training frame
        (the store of params.yaml's features section, written by `echojepa features`).
    params
        Parameter file (section probe).
    out
        Results JSON; default reports/probes/VERSION-KIND.json.
    save_probes_to
        Folder for the served probes (<task>.pt: first seed, most labels), e.g. models/jepa-tiny/probes.
    """
    import numpy as np
    import pandas as pd

    from model.config import ProbeConfig, load_config, token_time_steps
    from model.probe_eval import evaluate_probes, manifest_frame, save_probes, write_results

    if not (embeddings / "tokens.npy").is_file():
        raise ValueError(f"{embeddings}: no tokens.npy (run echojepa embed first)")
    frame_source = manifest_frame
    if source == "feast":
        from features.config import FeatureConfig
        from features.training import feast_frame_source

        store = load_section(params, "features", FeatureConfig)
        frame_source = feast_frame_source(store.root_path(), None, store.missing_labels, store.project)
    config = load_section(params, "probe", ProbeConfig)
    spec = config.spec(kind, time_steps=token_time_steps(load_config(params)))
    results = evaluate_probes(
        embeddings,
        tuple(tasks or config.tasks),
        tuple(fractions or config.fractions),
        tuple(seeds or config.seeds),
        spec,
        frame_source,
    )
    predictions, fitted = results.pop("predictions"), results.pop("probes")
    if save_probes_to is not None:
        width = int(np.load(embeddings / "tokens.npy", mmap_mode="r").shape[-1])
        saved = save_probes(fitted, save_probes_to, width, spec)
        print(f"saved probes: {', '.join(str(p) for p in saved)}")
    path = write_results(
        results | {"label_source": source},
        out or Path("reports/probes") / f"{embeddings.name}-{spec.kind}.json",
    )
    for task, rows in predictions.items():
        pd.DataFrame(rows).to_csv(path.with_name(f"{path.stem}_predictions_{task}.csv"), index=False)
    for task, per in results["tasks"].items():
        if isinstance(per, str):
            print(f"{task}: {per}")
            continue
        for fraction, m in per.items():
            shown = {k: f"{v['mean']:.3f}±{v['std']:.3f}" for k, v in m.items() if isinstance(v, dict)}
            print(f"{task} @ {float(fraction):.0%} labels: {shown}")
    print(f"wrote {path}")


@app.command
def evaluate(
    *,
    encoder: Path | None = None,
    embeddings: Path | None = None,
    out: Path = Path("reports"),
    params: Path = Path("params.yaml"),
    set: list[str] | None = None,
    strict: bool = False,
) -> None:
    """Evaluate a candidate encoder and check the release gates; writes evaluation.json + model_card.html.

    EF / view probes, robustness under the acoustic perturbations, pediatric zero-shot, subgroups, and the
    same-run baselines (random-init encoder, mean predictor); no-regression against the production model
    that the release ledger names. Failed gates are listed (the retrain flow acts on them); with --strict
    the command also exits non-zero.

    Parameters
    ----------
    encoder
        encoder.pt to evaluate; default models/METHOD-PRESET/encoder.pt.
    embeddings
        Its token cache (reused when it covers the manifest); default data/embeddings/METHOD-PRESET when
        --encoder is not given (another encoder is embedded afresh).
    out
        Report folder.
    params
        Parameter file (sections evaluate, gates, probe, release and the model sections).
    set
        Overrides as section.key=value.
    strict
        Exit non-zero when a gate fails.
    """
    import hashlib

    from evaluation.config import EvaluationConfig, GatesConfig
    from evaluation.evaluate import evaluate_candidate
    from evaluation.gates import failed_gates
    from evaluation.model_card import write_report
    from flows.versioning import data_version
    from model.config import ProbeConfig, load_config

    config = load_config(params, overrides(set or []))
    run = f"{config.optimization.method}-{config.model.preset}"
    # the run's own token cache is reused only for the run's own encoder: another encoder is embedded afresh
    default_cache = Path("data/embeddings") / run if encoder is None and embeddings is None else embeddings
    encoder = encoder or Path("models") / run / "encoder.pt"
    if not encoder.is_file():
        raise ValueError(f"{encoder}: no such encoder file (run echojepa pretrain first)")
    weights = hashlib.sha256(encoder.read_bytes()).hexdigest()[:12]
    report = evaluate_candidate(
        config,
        encoder,
        eval_config=load_section(params, "evaluate", EvaluationConfig),
        probe_config=load_section(params, "probe", ProbeConfig),
        production_report=(production := _production_report(params)),
        data_version=data_version(),
        model_version=f"{run}@{weights}",
        embeddings_dir=default_cache,
        baseline_embeddings_dir=Path("data/embeddings") / f"random-init-{config.model.preset}",
        gates=load_section(params, "gates", GatesConfig),
    )
    # which production model the no-regression gates compared with (None: first release); the retrain flow
    # reruns a reused report when production has changed since
    report["compared_with"] = None if production is None else production.get("model_version")
    json_path, html_path = write_report(report, out)
    failures = failed_gates(report["gates"])
    passed = sum(1 for g in report["gates"] if g["passed"])
    print(f"wrote {json_path} and {html_path}: {passed} of {len(report['gates'])} gates passed")
    for line in failures:
        print(f"  FAILED {line}")
    for g in report["gates"]:
        if g.get("advisory") and not g["passed"]:
            print(f"  failed, advisory (does not block): {g['name']} {g['value']} vs {g['threshold']}")
    if strict and failures:
        raise ValueError(f"{len(failures)} gate(s) failed: " + "; ".join(failures))


def _production_report(params: Path) -> dict | None:
    """The production model's evaluation.json, resolved through the release ledger (None: first release)."""
    import yaml

    section = (yaml.safe_load(params.read_text()) or {}).get("release") or {} if params.exists() else {}
    ledger_path = Path(section.get("ledger", "registry/ledger.jsonl"))
    if not ledger_path.is_file():
        return None
    from release.ledger import Ledger
    from release.package import production_model

    model = production_model(Ledger(ledger_path))
    if model is None:
        return None
    return json.loads(Path(model.path_of("evaluation.json")).read_text())
