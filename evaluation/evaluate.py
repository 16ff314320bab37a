"""Evaluate the pipeline's candidate: the probe stage's served probes (every seed of the 100 % probes, one
ensemble per task) scored on the training frame's TEST rows, robustness under EchoJEPA's perturbations,
pediatric zero-shot, subgroups, the baselines of the same run (the random-init encoder through the same
probe protocol, the mean predictor, the pixel-only estimators) with paired bootstrap intervals of the
candidate against each
(evaluation.comparisons), the collapse monitor (RankMe of the served and random-init encoders on
held-out clips, model.collapse) and the gates. The gated numbers are those of exactly the probe files
that will be packaged: their sha256 is in the report (`probes`), and the monitoring reference is written into
the run layout for the same model.

    report = evaluate_candidate(load_params(), production_report=None, model_version="jepa-tiny@…")
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import torch

from config.params import Params
from evaluation import baselines
from evaluation.comparisons import ef_comparisons
from evaluation.gates import check_gates
from evaluation.pediatric import pediatric_report
from evaluation.probe_protocol import (
    TaskProbes,
    headline,
    label_efficiency,
    predictions,
    protocol_summary,
    score,
    split_masks,
    task_report,
)
from evaluation.reference import monitoring_reference, test_set
from evaluation.results import NotMeasured, jsonable
from evaluation.robustness import robustness_report
from evaluation.subgroups import by_column, reduced_ef
from evaluation.tokens import Progress, clean_tokens
from model.collapse import effective_ranks, held_out_clips
from model.config import token_time_steps
from model.data import build_clip_cache
from model.embed import load_encoder
from model.probe_artifact import ProbeEnsemble
from model.vision_transformer import VideoViT
from release.ledger import sha256_file


class _Clock:
    """Wall and CPU seconds per phase: wall time alone misleads on a shared machine."""

    def __init__(self) -> None:
        self.start, self.cpu_start = time.perf_counter(), time.process_time()
        self.last, self.cpu_last = self.start, self.cpu_start
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.wall[phase] = round(self.wall.get(phase, 0.0) + now - self.last, 2)
        self.cpu[phase] = round(self.cpu.get(phase, 0.0) + cpu - self.cpu_last, 2)
        self.last, self.cpu_last = now, cpu

    def report(self) -> dict[str, dict[str, float]]:
        return {
            "wall_s": self.wall | {"total": round(time.perf_counter() - self.start, 2)},
            "cpu_s": self.cpu | {"total": round(time.process_time() - self.cpu_start, 2)},
        }


def read_probe_frame(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    """The probe stage's training frame, checked to cover the manifest row for row."""
    if not path.is_file():
        raise ValueError(f"{path}: no probe training frame (run the probe stage: `echojepa probe`)")
    frame = pd.read_csv(path, dtype={"FileName": str})
    if frame.FileName.tolist() != table.FileName.astype(str).tolist():
        raise ValueError(
            f"{path}: the probes were fitted on other studies than the manifest; rerun the probe stage"
        )
    return frame


def served_probes(folder: Path, tasks: tuple[str, ...]) -> dict[str, ProbeEnsemble]:
    """The probe stage's ensembles (a task whose folder is absent was not measurable there)."""
    return {t: ProbeEnsemble.load_dir(folder / t) for t in tasks if (folder / t).is_dir()}


def probe_hashes(folder: Path, ensembles: dict[str, ProbeEnsemble]) -> dict[str, str]:
    """{"ef/seed-0.pt": sha256, ...}: what packaging copies and serving loads."""
    return {
        f"{task}/seed-{seed}.pt": sha256_file(folder / task / f"seed-{seed}.pt")
        for task, ensemble in ensembles.items()
        for seed in ensemble.seeds
    }


def evaluate_candidate(
    params: Params,
    *,
    production_report: dict | None = None,
    data_version: str = "unknown",
    model_version: str = "unknown",
    probe_stage: dict | None = None,
    on_progress: Progress | None = None,
) -> dict:
    """Evaluate the layout's encoder with its served probes and gate it; returns the evaluation report.

    Args:
        params: the configuration (its layout names the encoder, token cache, probes and frame).
        production_report: the production model's evaluation.json for the no-regression gates.
        probe_stage: the probe stage's metrics.json (label-efficiency curves, unmeasurable tasks).
        on_progress: called as (phase, done, total) while embedding.
    """
    clock, layout, config = _Clock(), params.layout(), params.pretrain
    clips = params.probe.clips_per_video
    table = build_clip_cache(layout.data.dataset_dir, layout.data.cache_dir, manifest=layout.data.manifest)
    frame = read_probe_frame(layout.probe_frame, table)
    candidate = load_encoder(config, layout.encoder)
    tokens, candidate_source = clean_tokens(
        candidate, config, layout.data.cache_dir, table, clips, layout.embeddings_dir, "embed", on_progress
    )
    clock.lap("embed")
    ensembles = served_probes(layout.probes_dir, params.probe.tasks)
    stage_tasks = (probe_stage or {}).get("tasks", {})
    scored: dict[str, TaskProbes | NotMeasured] = {
        task: score(ensembles[task], tokens, frame) if task in ensembles
        else NotMeasured(str((stage_tasks.get(task) or {}).get("reason") or f"no served {task} probe"))
        for task in params.probe.tasks
    }  # fmt: skip
    clock.lap("probes")
    random_init, baseline_source = baselines.random_init(
        params, table, frame, layout.data.cache_dir, layout.baseline_embeddings_dir, on_progress
    )
    clock.lap("baseline")
    pixel = baselines.pixel(params, frame, layout.data.cache_dir, layout.baseline_embeddings_dir)
    clock.lap("pixel_baselines")
    collapse = effective_rank_report(params, candidate)
    clock.lap("effective_rank")
    test = split_masks(frame)[1]
    ef = scored.get("ef", NotMeasured("no ef task"))
    mean_predictor = baselines.mean_predictor(frame, params.probe)
    metrics = headline(scored) | {"n_test": int(test.sum())}
    metrics["n_test_labelled"] = int(ef.test_rows.sum()) if isinstance(ef, TaskProbes) else 0
    metrics["label_efficiency"] = label_efficiency(stage_tasks)
    report: dict = {
        "metrics": metrics,
        "baselines": {"random_init": random_init, "mean_predictor": mean_predictor, "pixel": pixel},
        "probe_protocol": protocol_summary(params.probe),
        "tasks": {t: task_report(r) for t, r in scored.items()},
        "comparisons": ef_comparisons(
            baselines.per_video(ef, frame) if isinstance(ef, TaskProbes) else None,
            random_init,
            mean_predictor,
            pixel,
        ),
        "effective_rank": collapse,
    }
    if isinstance(ef, NotMeasured):
        report |= {
            "subgroups": {"reduced_ef": {"ef_mae": ef, "auroc": ef}},
            "robustness": ef,
            "pediatric": ef,
        }
        metrics |= {"robustness_mean_increase": ef, "robustness_worst_increase": ef, "pediatric_ef_mae": ef}
    else:
        rows = frame[ef.test_rows]
        report["subgroups"] = {
            "reduced_ef": reduced_ef(
                ef.per_seed, ef.true, params.evaluate.reduced_ef_threshold, mean_predictor.get("train_mean")
            ),
            "device": by_column(ef.per_seed, ef.true, rows, "Device"),
            "cohort": by_column(ef.per_seed, ef.true, rows, "Cohort"),
        }
        report["robustness"] = robustness_report(
            candidate, config, layout.data.cache_dir, rows.FileName.tolist(), ef.true, ef.ensemble,
            ef.metrics["mae"], params.evaluate, clips, on_progress,
        )  # fmt: skip
        metrics["robustness_mean_increase"] = report["robustness"]["mean_increase"]
        metrics["robustness_worst_increase"] = report["robustness"]["worst_increase"]
        clock.lap("robustness")
        report["pediatric"] = pediatric_report(
            candidate, params, ef.ensemble, mean_predictor.get("train_mean"), on_progress
        )
        pediatric = report["pediatric"]
        metrics["pediatric_ef_mae"] = pediatric if isinstance(pediatric, NotMeasured) else pediatric["ef_mae"]
        clock.lap("pediatric")
    reference = monitoring_reference(frame, test, tokens, scored, layout.data.facts)
    layout.monitoring_reference.parent.mkdir(parents=True, exist_ok=True)
    reference.to_parquet(layout.monitoring_reference, index=False)
    report |= {
        "predictions": _predictions(frame, scored),
        "probes": probe_hashes(layout.probes_dir, ensembles),
        "monitoring_reference": {"path": str(layout.monitoring_reference), "rows": len(reference),
                                 "sha256": sha256_file(layout.monitoring_reference)},
        "test_set": test_set(frame, test),
        "data_version": data_version,
        "model_version": model_version,
        "encoder": str(layout.encoder),
        "embeddings": {"candidate": candidate_source, "random_init": baseline_source},
        "config": {
            "evaluate": params.evaluate.model_dump(mode="json"),
            "probe": params.probe.model_dump(mode="json"),
            "gates": params.gates.model_dump(mode="json"),
            "time_steps": token_time_steps(config),
        },
    }  # fmt: skip
    report["warnings"] = small_data_warnings(report, params.evaluate)
    report["gates"] = check_gates(report, params.gates, production_report)
    report["timing"] = clock.report()
    return jsonable(report)


def effective_rank_report(params: Params, candidate: VideoViT) -> dict | NotMeasured:
    """The collapse monitor's figures (model.collapse): RankMe of the served encoder (encoder.pt, which is
    V-JEPA's context encoder), of the EMA target (target_encoder.pt, when the run has one: reported, not
    gated) and of the random-init encoder, on the same held-out clips as pretraining's metrics.json, whose
    per-checkpoint rows are copied in (`by_step`)."""
    layout, config = params.layout(), params.pretrain
    with torch.random.fork_rng(devices=[]):  # load_encoder seeds torch; leave the evaluation's stream alone
        encoders = {"served": candidate, "random_init": load_encoder(config, None)}
    if layout.target_encoder.is_file():
        encoders["target_encoder"] = load_encoder(config, layout.target_encoder)
    device = next(candidate.parameters()).device
    figures = effective_ranks({k: v.to(device) for k, v in encoders.items()}, held_out_clips(params.data))
    if "reason" in figures:
        return NotMeasured(figures["reason"])
    pretraining = layout.pretrain_metrics
    if pretraining.is_file():
        logged = json.loads(pretraining.read_text()).get("effective_rank") or {}
        if logged.get("by_step"):
            figures["by_step"] = logged["by_step"]
    return figures | {"encoder": str(layout.encoder)}


def small_data_warnings(report: dict, config) -> list[str]:
    """Say when the TEST set or a subgroup is too small for its numbers to mean much, and mark them
    `small` in the report (they are still measured and gated: a reviewer decides with the warning)."""
    warnings = []
    n = report["metrics"].get("n_test_labelled", 0)
    if n < config.min_test_videos:
        report["metrics"]["small"] = True
        warnings.append(
            f"only {n} labelled TEST studies (evaluate.min_test_videos = {config.min_test_videos}): every "
            "TEST metric is indicative; R² and AUROC especially are unstable at this size"
        )
    subgroups = report.get("subgroups") or {}
    groups = [("reduced EF", subgroups.get("reduced_ef"))]
    for column in ("device", "cohort"):
        if isinstance(subgroups.get(column), dict):
            groups += [(f"{column} = {k}", v) for k, v in subgroups[column].items()]
    for name, group in groups:
        if (
            isinstance(group, dict)
            and isinstance(group.get("n"), int)
            and group["n"] < config.min_subgroup_videos
        ):
            group["small"] = True
            warnings.append(f"subgroup {name}: {group['n']} studies (evaluate.min_subgroup_videos = "
                            f"{config.min_subgroup_videos})")  # fmt: skip
    return warnings


def _predictions(frame: pd.DataFrame, scored: dict) -> dict:
    """TEST predictions for plots: the served (ensemble) EF and view, beside the truth."""
    out = {}
    for task, result in scored.items():
        if isinstance(result, TaskProbes):
            table = predictions(result, frame)
            out[task] = {c: table[c].tolist() for c in table} | (
                {"labels": list(result.ensemble.class_names)} if task == "view" else {}
            )
    return out
