"""Point-in-time training frames from Feast, and the frame source that plugs them into probe evaluation.

A label corrected at time t must not leak into a training set built as of an earlier time; Feast's
point-in-time join (latest row with event time <= the entity timestamp) gives exactly that, provided the
labels source keeps every version of a label (see features.sources)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from features.definitions import LABEL_COLUMNS, LABELS_VIEW, STUDY_KEY, embedding_view_name
from features.sources import utc

if TYPE_CHECKING:
    from feast import FeatureStore

    from evaluation.probe_protocol import FrameSource

log = logging.getLogger(__name__)

UNLABELLED = (
    "UNLABELLED"  # a Split value that the probe protocol's split_masks puts in neither train nor test
)
LABEL_REFS = tuple(f"{LABELS_VIEW}:{col}" for col, _ in LABEL_COLUMNS)


def training_frame(
    store: FeatureStore,
    study_ids: Sequence[str],
    as_of: datetime,
    version: str | None = None,
    extra_refs: Sequence[str] = (),
) -> pd.DataFrame:
    """Labels (and the pooled embedding of encoder `version`) of each study as known at `as_of`.

    One row per entry of `study_ids`, in that order (Feast returns rows in its own order, so they are
    joined back by id); a study without a label at `as_of` keeps NaN/None. Columns: FileName, the label
    columns (EF, View, Split, Cohort, Device, PatientID, StudyDate), `embedding` when a version is given,
    and any `extra_refs` (e.g. "study_quality:sharpness")."""
    ids = pd.Series([str(s) for s in study_ids], name=STUDY_KEY)
    refs = [*LABEL_REFS, *extra_refs]
    if version is not None:
        refs.append(f"{embedding_view_name(version)}:embedding")
    entity_df = pd.DataFrame({STUDY_KEY: ids.drop_duplicates(), "event_timestamp": utc(as_of)})
    found = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    found = found.drop(columns=["event_timestamp"]).drop_duplicates(STUDY_KEY)
    frame = ids.to_frame().merge(found, on=STUDY_KEY, how="left", validate="many_to_one")
    frame.insert(0, "FileName", frame.pop(STUDY_KEY))
    frame["EF"] = frame["EF"].astype(float)
    return frame


def label_gaps(frame: pd.DataFrame) -> pd.Series:
    """Rows with no label row in Feast at all at the as-of time (no Split, no View).

    A row that exists with an empty EF is not a gap: it is an unlabelled study, and evaluate_probes
    (the probe protocol) leaves NaN-EF rows out of the EF task itself while the view task still uses them."""
    return frame["Split"].isna() | frame["View"].isna()


def feast_frame_source(
    store_root: Path,
    as_of: datetime | None = None,
    missing: Literal["raise", "exclude"] = "raise",
    project: str = "echojepa",
) -> FrameSource:
    """A probe-protocol frame source (evaluation.probe_protocol.FrameSource) that reads labels from Feast
    instead of the token cache's own index.csv.

    The returned callable takes the embeddings dir, reads index.csv only for the study order (the tokens'
    row order), and returns FileName, EF, View, Split, ... as of `as_of` (default: the moment it is called),
    aligned row-for-row with the tokens. A study Feast has no label row for would reach evaluate_probes
    with a NaN View (sorting the view classes then fails) and a NaN Split, so it is never passed through
    silently: with missing="raise" it is a one-line ValueError; with "exclude" its Split becomes
    UNLABELLED (kept in place, so the alignment holds; split_masks leaves it out of train and test), its
    View a placeholder taken from the labelled rows (so no class is invented), and the count is logged."""

    def source(embeddings: Path) -> pd.DataFrame:
        from features.store import open_store

        index = pd.read_csv(Path(embeddings) / "index.csv", dtype={"FileName": str})
        when = utc(as_of)
        frame = training_frame(open_store(Path(store_root), project), index.FileName, when)
        gaps = label_gaps(frame)
        if gaps.any():
            first = frame.FileName[gaps].iloc[0]
            message = (
                f"{int(gaps.sum())} of {len(frame)} studies in {embeddings}/index.csv have no label in "
                f"Feast at {when.isoformat()} (first: {first})"
            )
            if missing == "raise" or gaps.all():
                raise ValueError(message + "; sync their labels or use missing='exclude'")
            log.warning("%s: excluded from probe training and test", message)
            frame.loc[gaps, "Split"] = UNLABELLED
            frame.loc[gaps, "View"] = frame.View[~gaps].iloc[0]
        if frame.EF.isna().any():
            log.info("%d studies have no EF at %s: left out of the EF task", frame.EF.isna().sum(), when)
        return frame

    return source
