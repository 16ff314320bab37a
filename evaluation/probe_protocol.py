"""The probe protocol of an evaluation: EF and view probe suites fitted on a frozen encoder's tokens
(TRAIN+VAL -> TEST, at label fractions, over seeds), and what the report takes from them: the headline
metrics, the label-efficiency curves, the random-init baseline's summary and the TEST predictions for plots.
The candidate and the random-init encoder go through exactly this protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.config import EvaluationConfig
from evaluation.probing import ProbeSuite, fit_suite
from model.probe_eval import split_masks


def view_targets(table: pd.DataFrame) -> tuple[list[str], np.ndarray | None]:
    views = sorted(table.View.astype(str).unique()) if "View" in table else []
    if len(views) < 2:
        return views, None
    return views, table.View.astype(str).map({v: i for i, v in enumerate(views)}).to_numpy()


def probe_suites(
    tokens: np.ndarray, table: pd.DataFrame, eval_config: EvaluationConfig, spec, ef_only_full: bool = False
) -> tuple[ProbeSuite | str, ProbeSuite | str]:
    """EF and view probe suites on TRAIN+VAL -> TEST ("n/a ..." when the data cannot support a task)."""
    train, test = split_masks(table)
    target = table.EF.to_numpy(float)
    labelled = np.isfinite(target)
    seeds = eval_config.probe_seeds
    if labelled[train].sum() < 2 or labelled[test].sum() < 1:
        ef: ProbeSuite | str = "n/a (too few labelled studies)"
    else:
        fractions = (1.0,) if ef_only_full else eval_config.ef_fractions
        ef = fit_suite(
            tokens, target, "regression", train & labelled, test & labelled, fractions, seeds, spec
        )
    views, view_target = view_targets(table)
    if view_target is None:
        view: ProbeSuite | str = "n/a (fewer than two views)"
    elif not test.any():
        view = "n/a (no TEST studies)"
    else:
        view = fit_suite(
            tokens, view_target, "classification", train, test, eval_config.view_fractions, seeds, spec,
            classes=len(views),
        )  # fmt: skip
    return ef, view


def headline_metrics(ef: ProbeSuite | str, view: ProbeSuite | str) -> dict:
    metrics: dict = {}
    if isinstance(ef, str):
        metrics |= {"ef_mae": ef, "ef_rmse": ef, "ef_r2": ef}
    else:
        full = ef.by_fraction["1"]
        metrics |= {"ef_mae": full["mae"], "ef_rmse": full["rmse"], "ef_r2": full["r2"]}
    if isinstance(view, str):
        metrics |= {"view_accuracy": view, "view_macro_f1": view}
    else:
        full = view.by_fraction["1"]
        metrics |= {"view_accuracy": full["accuracy"], "view_macro_f1": full["macro_f1"]}
    return metrics


def label_efficiency_curves(ef: ProbeSuite | str, view: ProbeSuite | str) -> dict:
    out: dict = {}
    if not isinstance(ef, str):
        out["ef_mae"] = {
            f: m["mae"] | {"train_examples": m["train_examples"]} for f, m in ef.by_fraction.items()
        }
    if not isinstance(view, str):
        out["view_accuracy"] = {
            f: m["accuracy"] | {"train_examples": m["train_examples"]} for f, m in view.by_fraction.items()
        }
    return out


def baseline_metrics(ef: ProbeSuite | str, view: ProbeSuite | str) -> dict:
    return headline_metrics(ef, view) | {"label_efficiency": label_efficiency_curves(ef, view)}


def test_predictions(table: pd.DataFrame, ef, view, ef_test: np.ndarray, test: np.ndarray) -> dict:
    """TEST predictions for plots: EF averaged over seeds; view: argmax of the seed-mean probabilities."""
    out: dict = {}
    if not isinstance(ef, str):
        out["ef"] = {
            "FileName": table.FileName[ef_test].tolist(),
            "actual": table.EF[ef_test].astype(float).tolist(),
            "predicted": ef.test_outputs.mean(0).tolist(),
        }
    if not isinstance(view, str):
        views, target = view_targets(table)
        out["view"] = {
            "FileName": table.FileName[test].tolist(),
            "actual": np.array(views)[target[test]].tolist(),
            "predicted": np.array(views)[view.test_outputs.mean(0).argmax(1)].tolist(),
            "labels": views,
        }
    return out
