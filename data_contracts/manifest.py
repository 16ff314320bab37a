"""The manifest contract: load FileList.csv, derive the columns GX expects on, and the manifest suite.

Rules that span several cells (EF against its volumes, a patient across splits) become derived columns
here, so each one is an ordinary per-row GX expectation whose unexpected rows can be quarantined.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.config import (
    ECHONET_COLUMNS,
    LABEL_COLUMNS,
    NUMERIC_COLUMNS,
    PLATFORM_COLUMNS,
    ContractConfig,
    ContractError,
)

MANIFEST = "FileList.csv"
NOT_NULL = ("FileName", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split", *PLATFORM_COLUMNS)


def platform_defaults(file_names: pd.Series, today: dt.date | None = None) -> dict[str, Any]:
    """Values for absent platform columns, as ARCHITECTURE.md's Interfaces fix them."""
    return {
        "View": "A4C",
        "PatientID": file_names,
        "Cohort": "adult",
        "Device": "unknown",
        "StudyDate": (today or dt.date.today()).isoformat(),
    }


def load_manifest(dataset_dir: Path, today: dt.date | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Read FileList.csv as text (so accepted rows are written back unchanged) and add absent platform
    columns with their defaults.

    Returns:
        (manifest with the input columns in order, then any defaulted ones; names of defaulted columns).
    Raises:
        ContractError: no file, not a CSV, a required EchoNet column missing, or a numeric column that holds
            no number at all (a shifted or mislabelled column, not a few bad rows).
    """
    path = Path(dataset_dir) / MANIFEST
    if not path.is_file():
        raise ContractError(f"{MANIFEST}: not found in {dataset_dir}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContractError(f"{MANIFEST}: not a readable CSV ({first})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in ECHONET_COLUMNS if c not in raw.columns]
    if missing:
        raise ContractError(f"{MANIFEST}: missing required columns: {', '.join(missing)}")
    for col in NUMERIC_COLUMNS:
        present = raw[col].dropna()
        if len(present) and pd.to_numeric(present, errors="coerce").isna().all():
            raise ContractError(f"{MANIFEST}: column {col} is not numeric (e.g. {present.iloc[0]!r})")
    defaults = platform_defaults(raw["FileName"], today)
    added = [c for c in PLATFORM_COLUMNS if c not in raw.columns]
    for col in added:
        raw[col] = defaults[col]
    return raw.reset_index(drop=True), added


def manifest_frame(raw: pd.DataFrame, config: ContractConfig) -> pd.DataFrame:
    """The frame the manifest suite runs on: typed columns plus the derived rule columns.

    Derived: `unparseable` (cells of numeric columns that are not numbers), `label_state` (complete,
    absent or partial: unlabelled studies are fine, half-labelled ones are not), `ef_volume_gap`
    (|EF - 100 (EDV - ESV) / EDV|) and `patient_split_count` (known splits a patient's studies fall in).
    """
    frame = raw.copy()
    bad = pd.Series("", index=frame.index, dtype=object)
    for col in NUMERIC_COLUMNS:
        cells = raw[col].where(raw[col].astype(str).str.strip() != "")  # a blank cell is a missing one
        parsed = pd.to_numeric(cells, errors="coerce").astype(np.float64)
        wrong = cells.notna() & parsed.isna()
        bad[wrong] = bad[wrong] + col + "=" + cells[wrong].astype(str) + " "
        frame[col] = parsed
    frame["unparseable"] = bad.str.strip().replace("", None)
    frame["FileName"] = raw["FileName"].str.replace(r"\.avi$", "", case=False, regex=True)
    have = frame[list(LABEL_COLUMNS)].notna().sum(axis=1)
    frame["label_state"] = np.select(
        [have == len(LABEL_COLUMNS), have == 0], ["complete", "absent"], "partial"
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = 100.0 * (frame["EDV"] - frame["ESV"]) / frame["EDV"]
    frame["ef_volume_gap"] = (frame["EF"] - implied).abs()
    known = frame[frame["Split"].isin(config.splits)]  # an unknown split fails on its own row only
    splits = known.dropna(subset=["PatientID"]).groupby("PatientID")["Split"].nunique()
    frame["patient_split_count"] = frame["PatientID"].map(splits).astype(np.float64)
    return frame


def manifest_expectations(config: ContractConfig) -> list[Any]:
    """The manifest suite's expectations (GX objects; GX is imported here, not at module import)."""
    import great_expectations.expectations as gxe

    between = gxe.ExpectColumnValuesToBeBetween
    checks: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=1)]
    checks += [gxe.ExpectColumnToExist(column=c) for c in (*ECHONET_COLUMNS, *PLATFORM_COLUMNS)]
    checks += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in NOT_NULL]
    checks += [
        gxe.ExpectColumnValuesToBeNull(column="unparseable"),
        gxe.ExpectColumnValuesToBeInSet(column="label_state", value_set=["complete", "absent"]),
        between(column="EF", min_value=0.0, max_value=100.0),
        between(column="ESV", min_value=0.0),
        between(column="EDV", min_value=0.0, strict_min=True),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="EDV", column_B="ESV", ignore_row_if="either_value_is_missing"
        ),
        between(column="ef_volume_gap", max_value=float(config.ef_tolerance)),
        between(column="FPS", min_value=0.0, strict_min=True),
        between(column="NumberOfFrames", min_value=float(config.min_frames)),
        between(column="FrameHeight", min_value=1.0),
        between(column="FrameWidth", min_value=1.0),
        gxe.ExpectColumnValuesToBeInSet(column="Split", value_set=list(config.splits)),
        gxe.ExpectColumnValuesToBeInSet(column="View", value_set=list(config.views)),
        gxe.ExpectColumnValuesToBeInSet(column="Cohort", value_set=list(config.cohorts)),
        gxe.ExpectColumnValuesToBeDateutilParseable(column="StudyDate"),
        gxe.ExpectColumnValuesToBeUnique(column="FileName"),
        between(column="patient_split_count", max_value=1.0),
    ]
    return checks
