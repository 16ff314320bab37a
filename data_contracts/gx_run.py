"""Run expectation suites through Great Expectations and render its data docs into the reports folder.

A file context in a throw-away folder holds the suites and results (a file context because data docs are
built from its stores); the docs site is pointed at reports_dir so only the HTML outlives the run. Results
are read with result_format COMPLETE, which lists every unexpected row index, so a failed row-level
expectation quarantines rows instead of failing the whole batch.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

DOCS_SITE = "contracts"


@dataclass(frozen=True)
class CheckResult:
    """One expectation's outcome, reduced to what quarantine and the summary need."""

    suite: str
    expectation: str  # e.g. expect_column_values_to_be_between
    columns: tuple[str, ...]
    success: bool
    unexpected_count: int
    rows: list[int] = field(default_factory=list)  # unexpected row indices (row-level expectations)
    row_level: bool = False
    detail: str = ""  # observed value or the exception message of a batch-level failure

    @property
    def name(self) -> str:
        return f"{self.expectation}({','.join(self.columns)})" if self.columns else self.expectation


def _columns(kwargs: dict[str, Any]) -> tuple[str, ...]:
    if "column" in kwargs:
        return (str(kwargs["column"]),)
    return tuple(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs)


def _reduce(suite: str, result: Any) -> CheckResult:
    config = result.expectation_config
    res = result.result or {}
    info = result.exception_info or {}
    raised = bool(info.get("raised_exception")) if isinstance(info, dict) else False
    rows = res.get("unexpected_index_list")
    row_level = rows is not None and not raised
    rows = [int(r) for r in rows] if row_level else []
    detail = ""
    if raised:
        detail = str(info.get("exception_message") or "exception").splitlines()[0]
    elif "observed_value" in res:
        detail = f"observed {res['observed_value']}"
    return CheckResult(
        suite=suite,
        expectation=config.type,
        columns=_columns(config.kwargs),
        success=bool(result.success),
        unexpected_count=int(res.get("unexpected_count") or len(rows)),
        rows=rows,
        row_level=row_level,
        detail=detail,
    )


def _quiet_context(root: Path) -> Any:
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # no "Calculating Metrics" bars
    return ctx


def run_suites(
    batches: dict[str, tuple[pd.DataFrame, list[Any]]], docs_dir: Path
) -> tuple[list[CheckResult], Path]:
    """Validate each frame against its expectations and build data docs under docs_dir.

    Args:
        batches: suite name -> (frame with a RangeIndex, expectations).
        docs_dir: data docs site folder; emptied first so no stale run is listed.
    Returns:
        (one CheckResult per expectation, suites in order; path of the docs' index.html).
    """
    import great_expectations as gx

    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="gx-contracts-") as tmp:
        ctx = _quiet_context(Path(tmp))
        for site in list(ctx.get_config().data_docs_sites or {}):
            ctx.delete_data_docs_site(site)
        docs_dir = Path(docs_dir).resolve()
        shutil.rmtree(docs_dir, ignore_errors=True)
        backend = {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)}
        ctx.add_data_docs_site(DOCS_SITE, {"class_name": "SiteBuilder", "store_backend": backend})
        source = ctx.data_sources.add_pandas(name="dataset")
        for name, (frame, expectations) in batches.items():
            batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("all")
            suite = ctx.suites.add(gx.ExpectationSuite(name=name))
            for expectation in expectations:
                suite.add_expectation(expectation)
            definition = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch, suite=suite)
            )
            outcome = definition.run(batch_parameters={"dataframe": frame}, result_format="COMPLETE")
            results += [_reduce(name, r) for r in outcome.results]
        ctx.build_data_docs(site_names=[DOCS_SITE])
    return results, docs_dir / "index.html"
