"""The local Feast store end to end: sources, apply, historical, materialize, online, push source."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.definitions import embedding_view_name
from features.sources import read_source
from tests.configs import section
from tests.features.conftest import T0, embeddings_dir, facts, manifest, write_csv
from ultrasound.quality import METRICS

VERSION = "jepa-tiny@2026.01/run-3"


def test_config_is_strict_and_defaults_to_data_features():
    config = section("features")
    assert (config.root, config.project, config.label_ttl_days) == ("data/features", "echojepa", None)
    with pytest.raises(ValidationError, match="label_tll_days"):
        section("features", label_tll_days=3)
    with pytest.raises(ValidationError, match="Feast"):
        section("features", project="_bad-name")


def test_embedding_view_names_are_feast_safe_and_distinct():
    names = {embedding_view_name(v) for v in (VERSION, "jepa-tiny@2026.01/run_3", "v1", "v.1", "v_1")}
    assert len(names) == 5
    assert embedding_view_name("v1") == "embeddings_v1"
    assert all(n.isidentifier() for n in names)


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A store with 30 labelled studies, their quality facts and one encoder version, applied."""
    from features.store import add_embeddings, apply, open_store, sync_sources

    tmp = tmp_path_factory.mktemp("store")
    frame = manifest(30)
    emb = embeddings_dir(tmp / "emb", frame)
    root = tmp / "features"
    added = sync_sources(
        root, write_csv(frame, tmp / "m.csv"), write_csv(facts(frame), tmp / "facts.csv"), label_time=T0
    )
    assert added == {"labels": 30, "patients": 15, "quality": 30}
    add_embeddings(root, emb, VERSION, event_time=T0)
    store = open_store(root)
    apply(store, section("features"), [VERSION])
    return store, frame, emb, tmp


def test_historical_features_join_labels_and_embeddings(populated):
    from features.training import training_frame

    store, frame, emb, _ = populated
    ids = list(frame.FileName[::-1])  # a different order than the source files
    got = training_frame(store, ids, T0 + timedelta(days=1), version=VERSION)
    expected = frame.set_index("FileName").loc[ids]
    assert list(got.FileName) == ids
    np.testing.assert_allclose(got.EF, expected.EF.astype(np.float32), rtol=0, atol=0)
    assert list(got.View) == list(expected.View) and list(got.Split) == list(expected.Split)
    pooled = np.load(emb / "pooled.npy")[::-1]
    np.testing.assert_array_equal(np.stack(got.embedding.to_numpy()).astype(np.float32), pooled)


def test_materialize_then_online_lookup_round_trips_embeddings(populated):
    from features.store import materialize, online_features

    store, frame, emb, tmp = populated
    materialize(store)
    ids = [*frame.FileName[:5], "0XUNKNOWN"]
    refs = ["study_labels:EF", "study_quality:sharpness", f"{embedding_view_name(VERSION)}:embedding"]
    online = online_features(store, ids, refs)
    assert list(online.study_id) == ids
    np.testing.assert_array_equal(
        np.stack(online.embedding[:5].to_list()).astype(np.float32), np.load(emb / "pooled.npy")[:5]
    )
    np.testing.assert_allclose(online.EF[:5], frame.EF[:5].astype(np.float32), rtol=1e-6)
    quality = pd.read_csv(tmp / "facts.csv")
    np.testing.assert_allclose(online.sharpness[:5], quality.sharpness[:5].astype(np.float32), rtol=1e-6)
    assert online.embedding.iloc[-1] is None and np.isnan(online.EF.iloc[-1])
    assert (store.config.repo_path / "feature_store.yaml").exists()


def test_resync_appends_only_changes_and_refuses_backdated_corrections(tmp_path):
    from features.sources import SCHEMAS, sync_sources

    frame = manifest(12)
    path = write_csv(frame, tmp_path / "m.csv")
    assert sync_sources(tmp_path, path, label_time=T0)["labels"] == 12
    assert sync_sources(tmp_path, path, label_time=T0 + timedelta(days=1)) == {"labels": 0, "patients": 0}
    frame.loc[3, "EF"] = 55.0
    frame.loc[4, "View"] = "PSAX"
    write_csv(frame, path)
    with pytest.raises(ValueError, match="not after the current row of 2"):
        sync_sources(tmp_path, path, label_time=T0)
    assert sync_sources(tmp_path, path, label_time=T0 + timedelta(days=2))["labels"] == 2
    labels = read_source(tmp_path / "labels.parquet", SCHEMAS["labels.parquet"])
    assert len(labels) == 14 and labels.study_id.value_counts()[frame.FileName[3]] == 2


def test_unlabelled_study_is_stored_once_with_nan_ef(tmp_path):
    from features.sources import SCHEMAS, sync_sources

    frame = manifest(4).astype({"EF": object})
    frame.loc[1, "EF"] = ""
    path = write_csv(frame, tmp_path / "m.csv")
    sync_sources(tmp_path, path, label_time=T0)
    assert sync_sources(tmp_path, path, label_time=T0 + timedelta(days=1))["labels"] == 0
    labels = read_source(tmp_path / "labels.parquet", SCHEMAS["labels.parquet"])
    assert labels.EF.isna().sum() == 1


def production_record(request_id: str, when: pd.Timestamp, width: int = 16) -> dict:
    rng = np.random.default_rng(7)
    metrics = {m: float(i) for i, m in enumerate(METRICS)}
    return {
        "request_id": request_id,
        "time": when,
        "model_version": "jepa-tiny:abc123",
        **metrics,
        "warnings": ["blur", "gain_drift"],
        "ef": 58.5,
        "view": "A4C",
        "view_probs": [0.7, 0.2, 0.1],
        "embedding": rng.normal(size=width).astype(np.float32).tolist(),
        "latency_ms": 12.5,
    }


def test_push_production_record_reads_back_online_and_offline(populated):
    from features.store import online_features, push_production

    store, *_ = populated
    when = pd.Timestamp.now(tz="UTC").floor("s")
    record = production_record("req-1", when)
    assert push_production(store, pd.DataFrame([record])) == 1
    refs = [f"production_log:{c}" for c in ("ef", "view", "warnings", "embedding", "sharpness")]
    online = online_features(store, ["req-1"], refs, key="request_id").iloc[0].to_dict()
    assert online["ef"] == pytest.approx(58.5) and online["view"] == "A4C"
    assert online["warnings"] == "blur,gain_drift" and online["sharpness"] == METRICS.index("sharpness")
    np.testing.assert_array_equal(np.float32(online["embedding"]), np.float32(record["embedding"]))
    offline = pd.read_parquet(store.config.repo_path / "production_log.parquet")
    assert list(offline.request_id) == ["req-1"] and "PatientID" not in offline
    entity = pd.DataFrame({"request_id": ["req-1"], "event_timestamp": [when + pd.Timedelta(seconds=1)]})
    hist = store.get_historical_features(entity_df=entity, features=["production_log:latency_ms"]).to_df()
    assert hist.latency_ms.iloc[0] == pytest.approx(12.5)
