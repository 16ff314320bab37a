"""The one probe protocol of the platform: probes fitted on a training frame (Feast's point-in-time frame
joined with the token cache, row for row), at label fractions and over seeds, scored on TEST.

V-JEPA 2's probe selection: with more than one (lr, weight_decay) in `probe.lr_grid × probe.wd_grid`, every
seed's heads train in one pass on TRAIN (model.probes.fit_probe_heads), the best on VAL is kept (per task,
seed and fraction; EF by MAE, view by accuracy, the first in grid order on a tie) and only that head is saved,
served and scored on TEST; VAL is cut to the same label fraction as TRAIN, so the 1 % point never selects
with more labels than it names. With one head there is nothing to select: it fits on TRAIN+VAL, as before
the grid. `protocol_rows` says which rows fit and which select; the mean predictor and the pixel baselines
(evaluation.baselines) fit on exactly the same rows.

The probe stage fits with `fit_protocol` and saves the 100 % probes of every seed (the served ensemble); the
evaluation scores exactly those files with `score` (so the gated numbers are the served probes' numbers);
the random-init baseline and the seed table fit through `fit_protocol` too. Before this module there were
two trainers (the probe stage's and the evaluation's), two label sources and two copies of the loop.

    result = fit_protocol(tokens, frame, params.probe, time_steps)
    result.tasks["ef"].ensemble.predict(other_tokens)        # EF [V], the served prediction
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.results import NotMeasured, summary
from model.config import ProbeConfig
from model.probe_artifact import TASK_KINDS, ProbeArtifact, ProbeEnsemble
from model.probes import (
    ProbeSpec,
    classification_metrics,
    fit_probe_heads,
    label_fraction,
    regression_metrics,
)

FrameSource = Callable[[Path], pd.DataFrame]  # embeddings folder -> training frame aligned with its tokens
HEADLINE = {"ef": ("mae", "rmse", "r2"), "view": ("accuracy", "macro_f1")}
SELECT_ON = {"ef": "mae", "view": "accuracy"}  # the VAL metric that selects a head (lowest MAE, top accuracy)


def manifest_frame(embeddings: Path) -> pd.DataFrame:
    """The plain frame source: the manifest written beside the tokens (index.csv)."""
    return pd.read_csv(Path(embeddings) / "index.csv", dtype={"FileName": str})


def split_masks(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rows held out from TEST (TRAIN + VAL) and the TEST rows of a training frame, as boolean masks
    (which of the former the probes fit on is `protocol_rows`')."""
    split = frame.Split.astype(str).str.upper()
    return split.isin(["TRAIN", "VAL"]).to_numpy(), (split == "TEST").to_numpy()


@dataclass(frozen=True)
class ProtocolRows:
    """Boolean masks over a training frame: the rows the probes fit on, those that select among the heads
    (none with one head) and TEST."""

    fit: np.ndarray
    select: np.ndarray
    test: np.ndarray
    fit_on: str  # "TRAIN" (a grid, selected on VAL) or "TRAIN+VAL" (one head)


def protocol_rows(frame: pd.DataFrame, config: ProbeConfig) -> ProtocolRows:
    """Which rows fit and which select under `config` (see the module docstring)."""
    held_out, test = split_masks(frame)
    if not config.selects_on_val:
        return ProtocolRows(held_out, np.zeros(len(frame), bool), test, "TRAIN+VAL")
    split = frame.Split.astype(str).str.upper()
    return ProtocolRows((split == "TRAIN").to_numpy(), (split == "VAL").to_numpy(), test, "TRAIN")


def protocol_summary(config: ProbeConfig) -> dict:
    """What the reports print beside every table: the probe's kind and depth, its heads and where they fit
    and are selected; `text` is the line itself, e.g. "probe: attentive depth 1, 4 heads (2 lr × 2 wd
    grid), selected on VAL"."""
    grid, selecting = config.grid(), config.selects_on_val
    lrs, wds = config.lr_grid or (config.lr,), config.wd_grid or (config.weight_decay,)
    kind = f"attentive depth {config.depth}" if config.kind == "attentive" else "linear"
    heads = (
        f"{len(grid)} heads ({len(lrs)} lr × {len(wds)} wd grid), selected on VAL"
        if selecting
        else f"1 head (lr {config.lr:g}, wd {config.weight_decay:g}), fitted on TRAIN+VAL"
    )
    return {
        "kind": config.kind, "depth": config.depth, "heads": len(grid), "grid": [list(g) for g in grid],
        "fit_on": "TRAIN" if selecting else "TRAIN+VAL", "selected_on": "VAL" if selecting else None,
        "temporal_contrast": config.temporal_contrast, "text": f"probe: {kind}, {heads}",
    }  # fmt: skip


def view_classes(frame: pd.DataFrame) -> tuple[str, ...]:
    """The view classes of a frame's labelled rows, sorted (the classifier's output order)."""
    if "View" not in frame:
        return ()
    return tuple(sorted(frame.View.dropna().astype(str).unique()))


def task_target(
    frame: pd.DataFrame, task: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | NotMeasured:
    """(target, labelled rows, class names) of a task, or why the frame cannot support it."""
    if task == "ef":
        if "EF" not in frame:
            return NotMeasured("no EF column")
        target = pd.to_numeric(frame.EF, errors="coerce").to_numpy(float)
        return target, np.isfinite(target), ()
    classes = view_classes(frame)
    if len(classes) < 2:
        return NotMeasured(f"fewer than two views ({', '.join(classes) or 'none'})")
    index = {v: i for i, v in enumerate(classes)}
    views = frame.View.astype(str).where(frame.View.notna(), None)
    target = views.map(index).fillna(-1).to_numpy(int)
    return target, target >= 0, classes


def _metrics(task: str, outputs: np.ndarray, true: np.ndarray) -> dict[str, float]:
    return regression_metrics(outputs, true) if task == "ef" else classification_metrics(outputs, true)


@dataclass
class TaskProbes:
    """One task's probes: the served 100 % ensemble, its TEST scores and the label-efficiency curve."""

    task: str
    ensemble: ProbeEnsemble
    test_rows: np.ndarray  # boolean mask of the frame's labelled TEST rows
    true: np.ndarray  # their targets (EF, or class indices)
    per_seed: np.ndarray  # [S, n] EF or [S, n, K] probabilities on those rows
    metrics: dict[str, dict[str, float]]  # headline metric -> {value (ensemble), mean, std}
    by_fraction: dict[str, dict] = field(default_factory=dict)  # "0.01" -> {metric: {mean, std}, rows}

    @property
    def served(self) -> np.ndarray:
        """The ensemble's TEST outputs (what serving would answer)."""
        return self.per_seed.mean(0)


def score(ensemble: ProbeEnsemble, tokens: np.ndarray, frame: pd.DataFrame) -> TaskProbes | NotMeasured:
    """A fitted ensemble on the frame's labelled TEST rows: per-seed and ensemble metrics."""
    target = task_target(frame, ensemble.task)
    if isinstance(target, NotMeasured):
        return target
    values, labelled, _ = target
    test = split_masks(frame)[1] & labelled
    if not test.any():
        return NotMeasured("no labelled TEST studies")
    return _scored(ensemble, test, values[test], ensemble.per_seed(np.asarray(tokens[test])))


def _scored(ensemble: ProbeEnsemble, test: np.ndarray, true: np.ndarray, per_seed: np.ndarray) -> TaskProbes:
    runs = [_metrics(ensemble.task, out, true) for out in per_seed]
    served = _metrics(ensemble.task, per_seed.mean(0), true)
    metrics = {k: summary((r[k] for r in runs), served[k]) for k in HEADLINE[ensemble.task]}
    return TaskProbes(ensemble.task, ensemble, test, true, per_seed, metrics)


def fit_selected(
    tokens: np.ndarray, values: np.ndarray, fit: np.ndarray, select: np.ndarray | None, task: str,
    config: ProbeConfig, spec: ProbeSpec, seed: int, classes: tuple[str, ...],
) -> ProbeArtifact:  # fmt: skip
    """One seed's probe: every head of `config.grid()` trained in one pass on the `fit` row indices, the
    best on the `select` row indices kept with its selection recorded (the only head when the grid has
    one; `select` is then None)."""
    grid, width = config.grid(), int(tokens.shape[-1])
    heads, mean, std = fit_probe_heads(
        np.asarray(tokens[fit]), values[fit], TASK_KINDS[task], spec, seed, len(classes), grid
    )
    stats = {"seed": seed, "train_examples": len(fit), "target_mean": mean, "target_std": std}
    artifacts = [
        ProbeArtifact.from_module(
            task, head, replace(spec, lr=lr, weight_decay=wd), width, class_names=classes, **stats
        )
        for head, (lr, wd) in zip(heads, grid, strict=True)
    ]
    if select is None:
        return artifacts[0]
    metric, select_tokens = SELECT_ON[task], np.asarray(tokens[select])
    scores = [_metrics(task, a.predict(select_tokens), values[select])[metric] for a in artifacts]
    best = int(np.argmin(scores) if metric == "mae" else np.argmax(scores))  # the first on a tie
    selection = {
        "metric": f"val_{metric}", "value": scores[best], "lr": grid[best][0], "weight_decay": grid[best][1],
        "val_examples": len(select),
        "heads": [{"lr": g[0], "weight_decay": g[1], "value": v} for g, v in zip(grid, scores, strict=True)],
    }  # fmt: skip
    return replace(artifacts[best], selection=selection)


def fit_task(
    tokens: np.ndarray, frame: pd.DataFrame, task: str, config: ProbeConfig, spec: ProbeSpec
) -> TaskProbes | NotMeasured:
    """Probes of one task at every label fraction and seed (each the head selected on VAL when there is a
    grid); the 100 % probes form the served ensemble."""
    target = task_target(frame, task)
    if isinstance(target, NotMeasured):
        return target
    values, labelled, classes = target
    rows = protocol_rows(frame, config)
    fit, select, test = rows.fit & labelled, rows.select & labelled, rows.test & labelled
    if fit.sum() < 2 or not test.any():
        counts = f"{int(fit.sum())} {rows.fit_on}, {int(test.sum())} TEST"
        return NotMeasured(f"too few labelled studies ({counts})")
    if config.selects_on_val and not select.any():
        return NotMeasured(f"no labelled VAL studies to select among the {len(config.grid())} probe heads "
                           "(probe.lr_grid × probe.wd_grid)")  # fmt: skip
    by_fraction, members, served_outputs = {}, [], []
    test_tokens = np.asarray(tokens[test])
    for fraction in config.fractions:
        runs, n_rows = [], 0
        for seed in config.seeds:
            subset = np.flatnonzero(fit)[label_fraction(values[fit], fraction, seed)]
            chosen = (
                np.flatnonzero(select)[label_fraction(values[select], fraction, seed)]
                if config.selects_on_val
                else None
            )
            artifact = fit_selected(tokens, values, subset, chosen, task, config, spec, seed, classes)
            outputs = artifact.predict(test_tokens)
            runs.append(_metrics(task, outputs, values[test]))
            n_rows = len(subset)
            if fraction == 1.0:
                members.append(artifact)
                served_outputs.append(outputs)
        by_fraction[f"{fraction:g}"] = {key: summary(r[key] for r in runs) for key in HEADLINE[task]} | {
            "train_examples": n_rows
        }
    scored = _scored(ProbeEnsemble(task, tuple(members)), test, values[test], np.stack(served_outputs))
    scored.by_fraction = mark_repeated_fractions(by_fraction)
    return scored


def mark_repeated_fractions(by_fraction: dict[str, dict]) -> dict[str, dict]:
    """A smaller fraction that trains on as many rows as a larger one (small data: 1 % and 10 % of 40
    studies are both the floor of 2 per stratum) is marked as the same training set, not a new point."""
    out, seen = {}, {}
    for fraction, row in sorted(by_fraction.items(), key=lambda kv: -float(kv[0])):
        rows = row["train_examples"]
        out[fraction] = row | ({"same_rows_as": seen[rows]} if rows in seen else {})
        seen.setdefault(rows, fraction)
    return dict(sorted(out.items(), key=lambda kv: float(kv[0])))


@dataclass
class ProtocolResult:
    """Every task's probes (or why a task was not measured)."""

    tasks: dict[str, TaskProbes | NotMeasured]
    spec: ProbeSpec

    def ensembles(self) -> dict[str, ProbeEnsemble]:
        return {t: r.ensemble for t, r in self.tasks.items() if isinstance(r, TaskProbes)}

    def report(self) -> dict:
        """The headline metrics and label-efficiency curves of every task (the random-init baseline's and
        the seed table's numbers)."""
        tasks = {task: task_report(r) for task, r in self.tasks.items()}
        return headline(self.tasks) | {"label_efficiency": label_efficiency(tasks)}


def fit_protocol(
    tokens: np.ndarray, frame: pd.DataFrame, config: ProbeConfig, time_steps: int
) -> ProtocolResult:
    """The protocol on one encoder's tokens [V, C, N, D], `frame` aligned with them row for row."""
    if len(frame) != len(tokens):
        raise ValueError(f"the training frame has {len(frame)} rows for {len(tokens)} token rows")
    spec = config.spec(time_steps=time_steps)
    return ProtocolResult({task: fit_task(tokens, frame, task, config, spec) for task in config.tasks}, spec)


def task_report(result: TaskProbes | NotMeasured) -> dict | NotMeasured:
    """What reports/probes/metrics.json and evaluation.json keep of a task."""
    if isinstance(result, NotMeasured):
        return result
    return {
        "metrics": result.metrics, "by_fraction": result.by_fraction, "seeds": list(result.ensemble.seeds),
        "n_test": int(result.test_rows.sum()), "selection": selections(result.ensemble),
    }  # fmt: skip


def selections(ensemble: ProbeEnsemble) -> list[dict]:
    """Which head each served probe is: [{seed, lr, weight_decay, metric, value, val_examples}] (metric and
    value: the VAL score that selected it; absent for a probe that was not selected among a grid)."""
    out = []
    for member in ensemble.members:
        chosen = member.selection or {}
        out.append({"seed": member.seed, "lr": member.spec.lr, "weight_decay": member.spec.weight_decay}
                   | {k: chosen[k] for k in ("metric", "value", "val_examples") if k in chosen})  # fmt: skip
    return out


def headline(scored: dict[str, TaskProbes | NotMeasured]) -> dict:
    """metrics.ef_mae / ef_rmse / ef_r2 / view_accuracy / view_macro_f1 (NotMeasured when a task is)."""
    names = {"ef": {"mae": "ef_mae", "rmse": "ef_rmse", "r2": "ef_r2"},
             "view": {"accuracy": "view_accuracy", "macro_f1": "view_macro_f1"}}  # fmt: skip
    out: dict = {}
    for task, keys in names.items():
        result = scored.get(task, NotMeasured(f"no {task} probe"))
        for metric, name in keys.items():
            out[name] = result if isinstance(result, NotMeasured) else result.metrics[metric]
    return out


def label_efficiency(tasks: dict) -> dict:
    """{ef_mae: {fraction: summary}, view_accuracy: {...}} from the probe stage's per-fraction results."""
    out = {}
    for task, metric, name in (("ef", "mae", "ef_mae"), ("view", "accuracy", "view_accuracy")):
        result = tasks.get(task)
        if isinstance(result, dict) and "by_fraction" in result:  # not {value: null, reason}: measured
            out[name] = {
                fraction: row[metric] | {k: row[k] for k in ("train_examples", "same_rows_as") if k in row}
                for fraction, row in result["by_fraction"].items()
            }
    return out


def predictions(result: TaskProbes, frame: pd.DataFrame) -> pd.DataFrame:
    """The ensemble's TEST predictions beside the truth (FileName, actual, predicted): plots and CSVs."""
    names = frame.FileName.astype(str).to_numpy()[result.test_rows]
    if result.task == "ef":
        return pd.DataFrame({"FileName": names, "actual": result.true, "predicted": result.served})
    classes = np.array(result.ensemble.class_names)
    return pd.DataFrame(
        {"FileName": names, "actual": classes[result.true], "predicted": classes[result.served.argmax(1)]}
    )
