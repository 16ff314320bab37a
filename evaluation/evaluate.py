"""Evaluate a candidate encoder: frozen-encoder probes (EF, view at label fractions, over seeds) on the
validated manifest's TEST split, robustness under EchoJEPA's perturbations, pediatric zero-shot, subgroups,
and the baselines of the same run (the random-init encoder under the same probe protocol, the TRAIN-mean
predictor); then the gates. The report is the `reports/evaluation.json` of the Interfaces.

    from evaluation.evaluate import evaluate_candidate
    report = evaluate_candidate(load_config(), Path("models/jepa-tiny/encoder.pt"),
                                eval_config=EvaluationConfig(), probe_config=ProbeConfig())
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation import baselines
from evaluation.config import EvaluationConfig, GatesConfig
from evaluation.gates import check_gates
from evaluation.probe_protocol import (
    baseline_metrics,
    headline_metrics,
    label_efficiency_curves,
    probe_suites,
    test_predictions,
)
from evaluation.probing import ProbeSuite
from evaluation.robustness import robustness_report
from evaluation.subgroups import by_column, mae, reduced_ef
from evaluation.tokens import Progress, clean_tokens, embed_cached
from model.config import PretrainConfig, ProbeConfig, token_time_steps
from model.data import build_clip_cache, manifest_path
from model.embed import load_encoder
from model.probe_eval import split_masks


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


def _pediatric(
    encoder,
    config: PretrainConfig,
    eval_config: EvaluationConfig,
    ef: ProbeSuite,
    train_mean: float,
    on_progress,
) -> dict | str:
    """The adult-trained EF probes applied unchanged to every labelled study of the pediatric dataset."""
    name = eval_config.pediatric_dataset
    folder = eval_config.pediatric_dir(config.data.root)
    if folder is None:
        return "n/a (evaluate.pediatric_dataset is null)"
    if not (folder / "FileList.csv").is_file():
        return f"n/a ({folder} not found)"
    data = config.data.model_copy(update={"dataset": name})
    cache_dir = Path(data.cache) / name
    table = build_clip_cache(folder, cache_dir, manifest=manifest_path(data))
    true = table.EF.to_numpy(float)
    rows = np.isfinite(true)
    if not rows.any():
        return f"n/a ({folder} has no EF labels)"
    names = table.FileName[rows].tolist()
    tokens = embed_cached(
        encoder, config, cache_dir, names, eval_config.clips_per_video, "pediatric", on_progress
    )
    preds = ef.predict(tokens)
    return {
        "dataset": name,
        "n": int(rows.sum()),
        "ef_mae": mae(preds, true[rows]),
        "mean_predictor_ef_mae": float(np.abs(true[rows] - train_mean).mean()),
    }


def _test_set(table: pd.DataFrame, test: np.ndarray) -> dict:
    names = "\n".join(sorted(table.FileName[test].astype(str)))
    return {"n": int(test.sum()), "sha256": hashlib.sha256(names.encode()).hexdigest()}


def evaluate_candidate(
    config: PretrainConfig,
    encoder_path: Path | None,
    *,
    eval_config: EvaluationConfig,
    probe_config: ProbeConfig,
    production_report: dict | None = None,
    data_version: str = "unknown",
    model_version: str = "unknown",
    embeddings_dir: Path | None = None,
    baseline_embeddings_dir: Path | None = None,
    gates: GatesConfig | None = None,
    on_progress: Progress | None = None,
) -> dict:
    """Evaluate a frozen encoder and gate it; returns the evaluation report.

    Args:
        config: the run's config (data section: which dataset, clip geometry; model: the architecture).
        encoder_path: encoder weights (encoder.pt), or None for a random-init (zero-step) candidate.
        production_report: the production model's report, for the no-regression gates (None: first release).
        embeddings_dir: the candidate's token cache (`echojepa embed`), reused when it covers this manifest.
        baseline_embeddings_dir: a cache of the random-init encoder's tokens and probe results (reused
            when data, architecture, seed and probe protocol match; written otherwise).
        gates: thresholds (default GatesConfig()).
        on_progress: called as (phase, done, total) while embedding (clean, random-init, perturbed,
            pediatric).
    Returns:
        {metrics, baselines, subgroups, gates, data_version, model_version, robustness, pediatric,
        predictions, test_set, embeddings, config, timing}.
    """
    clock = _Clock()
    gates = gates or GatesConfig()
    clips = eval_config.clips_per_video
    dataset_dir = Path(config.data.root) / config.data.dataset
    cache_dir = Path(config.data.cache) / config.data.dataset
    table = build_clip_cache(dataset_dir, cache_dir, manifest=manifest_path(config.data))
    candidate = load_encoder(config, encoder_path)
    tokens, candidate_source = clean_tokens(
        candidate, config, cache_dir, table, clips, embeddings_dir, "embed", on_progress
    )
    clock.lap("embed")

    spec = probe_config.spec(time_steps=token_time_steps(config))
    ef, view = probe_suites(tokens, table, eval_config, spec)
    clock.lap("probes")
    if encoder_path is None:  # a zero-step candidate is the random-init encoder itself (same seed)
        random_init, baseline_source = baseline_metrics(ef, view), "the candidate (it is random-init)"
    else:
        random_init, baseline_source = baselines.random_init(
            config, table, cache_dir, eval_config, probe_config,
            lambda t: baseline_metrics(*probe_suites(t, table, eval_config, spec, ef_only_full=True)),
            baseline_embeddings_dir, on_progress,
        )  # fmt: skip
    clock.lap("baseline")

    test = split_masks(table)[1]
    ef_test = test & np.isfinite(table.EF.to_numpy(float))
    mean_predictor = baselines.mean_predictor(table, ef_test)
    metrics = headline_metrics(ef, view) | {"n_test": int(test.sum()), "n_test_labelled": int(ef_test.sum())}
    metrics["label_efficiency"] = label_efficiency_curves(ef, view)
    report: dict = {
        "metrics": metrics,
        "baselines": {"random_init": random_init, "mean_predictor": mean_predictor},
    }
    if isinstance(ef, str):
        report |= {
            "subgroups": {"reduced_ef": {"ef_mae": ef, "auroc": ef}},
            "robustness": ef,
            "pediatric": ef,
        }
        metrics |= {"robustness_mean_increase": ef, "robustness_worst_increase": ef, "pediatric_ef_mae": ef}
    else:
        true, preds, test_frame = table.EF.to_numpy(float)[ef_test], ef.test_outputs, table[ef_test]
        report["subgroups"] = {
            "reduced_ef": reduced_ef(
                preds, true, eval_config.reduced_ef_threshold, mean_predictor.get("train_mean")
            ),
            "device": by_column(preds, true, test_frame, "Device"),
            "cohort": by_column(preds, true, test_frame, "Cohort"),
        }
        report["robustness"] = robustness_report(
            candidate, config, cache_dir, table.FileName[ef_test].tolist(), true, ef,
            metrics["ef_mae"]["mean"], eval_config, on_progress,
        )  # fmt: skip
        metrics["robustness_mean_increase"] = report["robustness"]["mean_increase"]
        metrics["robustness_worst_increase"] = report["robustness"]["worst_increase"]
        clock.lap("robustness")
        train_mean = mean_predictor.get("train_mean", float("nan"))
        report["pediatric"] = _pediatric(candidate, config, eval_config, ef, train_mean, on_progress)
        pediatric = report["pediatric"]
        metrics["pediatric_ef_mae"] = pediatric if isinstance(pediatric, str) else pediatric["ef_mae"]
        clock.lap("pediatric")
    report["predictions"] = test_predictions(table, ef, view, ef_test, test)
    report |= {
        "test_set": _test_set(table, test),
        "data_version": data_version,
        "model_version": model_version,
        "encoder": str(encoder_path) if encoder_path is not None else "random-init",
        "embeddings": {"candidate": candidate_source, "random_init": baseline_source},
        "config": {
            "evaluate": eval_config.model_dump(mode="json"),
            "probe": probe_config.model_dump(mode="json"),
            "gates": gates.model_dump(mode="json"),
        },
    }
    report["gates"] = check_gates(report, gates, production_report)
    report["timing"] = clock.report()
    return report
