"""Delayed-label accuracy: EF labels that arrive later, joined to predictions, MAE per day/device/cohort."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.sources import sync_sources
from monitoring.labels import join_labels, label_accuracy, read_ef_labels
from tests.configs import section

CONFIG = section("monitoring", min_labels=3, label_mae_margin=2.0)


def predictions() -> pd.DataFrame:
    """Six served studies on two days, two devices, two cohorts; one unlabelled, one without a study id."""
    return pd.DataFrame(
        {
            "time": pd.to_datetime(
                [f"2026-01-0{d}T{h:02d}:00" for d in (5, 6) for h in (8, 9, 10)], utc=True
            ),
            "study_id": ["S1", "S2", "S3", "S4", "S5", ""],
            "ef": [50.0, 60.0, 40.0, 55.0, 30.0, 45.0],
            "device": ["dev-a", "dev-a", "dev-b", "dev-b", "", "dev-a"],
            "cohort": ["adult", "adult", "pediatric", "adult", "adult", "adult"],
        }
    )


def write_labels(root: Path, when: str) -> None:
    """EF measured for S1..S4 and S5 (S5's device only in the label), as the features stage syncs them."""
    manifest = pd.DataFrame(
        {
            "FileName": ["S1", "S2", "S3", "S4", "S5"],
            "EF": [54.0, 58.0, 46.0, 55.0, 40.0],
            "Split": "PRODUCTION",
            "Device": ["dev-a", "dev-a", "dev-b", "dev-b", "dev-c"],
            "Cohort": ["adult", "adult", "pediatric", "adult", "adult"],
        }
    )
    manifest.to_csv(root / "manifest.csv", index=False)
    sync_sources(root / "features", root / "manifest.csv", label_time=pd.Timestamp(when, tz="UTC"))


def test_mae_per_day_device_and_cohort_on_a_hand_built_example(tmp_path: Path) -> None:
    # given labels for five studies; errors 4, 2, 6, 0, 10
    write_labels(tmp_path, "2026-01-07")
    served = predictions()
    # when
    labels = read_ef_labels(tmp_path / "features", served.study_id)
    accuracy = label_accuracy(join_labels(served, labels), len(served), evaluated_mae=3.0, config=CONFIG)
    # then
    assert sorted(labels.study_id) == ["S1", "S2", "S3", "S4", "S5"]
    assert accuracy.n_predictions == 6 and accuracy.n_labelled == 5
    assert accuracy.mae == pytest.approx(22 / 5)
    assert accuracy.daily == [
        {"date": "2026-01-05", "n": 3, "mae": pytest.approx(4.0)},
        {"date": "2026-01-06", "n": 2, "mae": pytest.approx(5.0)},
    ]
    assert accuracy.by_device == {
        "dev-a": {"n": 2, "mae": pytest.approx(3.0)},
        "dev-b": {"n": 2, "mae": pytest.approx(3.0)},
        "dev-c": {"n": 1, "mae": pytest.approx(10.0)},  # the log had no device: the label's is used
    }
    assert accuracy.by_cohort == {
        "adult": {"n": 4, "mae": pytest.approx(4.0)},
        "pediatric": {"n": 1, "mae": pytest.approx(6.0)},
    }
    assert accuracy.limit == 5.0 and not accuracy.alert  # 4.4 ≤ 3.0 + 2.0
    worse = label_accuracy(join_labels(served, labels), 6, evaluated_mae=2.0, config=CONFIG)
    assert worse.alert and worse.limit == 4.0


def test_labels_known_only_later_are_not_seen_earlier(tmp_path: Path) -> None:
    write_labels(tmp_path, "2026-01-07")
    early = read_ef_labels(tmp_path / "features", ["S1"], as_of=pd.Timestamp("2026-01-06", tz="UTC"))
    assert early.empty


def test_no_labels_is_na_not_an_error(tmp_path: Path) -> None:
    served = predictions()
    labels = read_ef_labels(tmp_path / "no-store", served.study_id)
    accuracy = label_accuracy(join_labels(served, labels), len(served), evaluated_mae=None, config=CONFIG)
    assert accuracy.mae is None and not accuracy.alert and accuracy.limit == CONFIG.label_mae_max
    assert accuracy.text == "n/a (no EF labels yet for 6 predictions)"
    assert accuracy.by_device == {} and accuracy.daily == []


def test_too_few_labels_never_alert(tmp_path: Path) -> None:
    write_labels(tmp_path, "2026-01-07")
    served = predictions().iloc[:2]  # errors 4 and 2: MAE 3 above a limit of 2, on 2 < min_labels labels
    labels = read_ef_labels(tmp_path / "features", served.study_id)
    accuracy = label_accuracy(join_labels(served, labels), 2, evaluated_mae=0.0, config=CONFIG)
    assert accuracy.mae == pytest.approx(3.0) and accuracy.limit == 2.0 and not accuracy.alert


def test_an_applied_feast_store_answers_through_the_label_view(tmp_path: Path) -> None:
    # given the same labels registered in Feast (registry.db): read through get_historical_features
    from features.store import apply, open_store

    write_labels(tmp_path, "2026-01-07")
    from_file = read_ef_labels(tmp_path / "features", predictions().study_id)
    apply(open_store(tmp_path / "features"), section("features"))
    assert (tmp_path / "features" / "registry.db").is_file()
    from_feast = read_ef_labels(tmp_path / "features", predictions().study_id)
    pd.testing.assert_frame_equal(
        from_feast.sort_values("study_id").reset_index(drop=True), from_file, check_dtype=False
    )
    assert read_ef_labels(tmp_path / "features", ["S1"], as_of=pd.Timestamp("2026-01-06", tz="UTC")).empty
