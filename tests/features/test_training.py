"""Point-in-time training frames, and probe evaluation reading its training frame from Feast."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tests.configs import section
from tests.features.conftest import T0, embeddings_dir, manifest, write_csv

T1 = T0 + timedelta(days=10)


def labelled_store(root, frame, tmp, when=T0):
    from features.store import apply, open_store, sync_sources

    sync_sources(root, write_csv(frame, tmp / "labels.csv"), label_time=when)
    store = open_store(root)
    apply(store, section("features"))
    return store


def test_corrected_label_is_used_only_after_its_correction_time(tmp_path):
    from features.store import sync_sources
    from features.training import training_frame

    frame = manifest(6)
    frame.loc[2, "EF"] = 40.0
    store = labelled_store(tmp_path / "fs", frame, tmp_path)
    frame.loc[2, "EF"] = 55.0
    assert sync_sources(tmp_path / "fs", write_csv(frame, tmp_path / "fix.csv"), label_time=T1)["labels"] == 1
    study = frame.FileName[2]

    def ef(as_of):
        return training_frame(store, [study], as_of).EF.iloc[0]

    assert np.isnan(ef(T0 - timedelta(seconds=1)))  # not labelled yet
    assert ef(T0) == 40.0 and ef(T0 + timedelta(days=5)) == 40.0 and ef(T1 - timedelta(seconds=1)) == 40.0
    assert ef(T1) == 55.0 and ef(T1 + timedelta(days=300)) == 55.0
    # the other studies are untouched by the correction
    other = training_frame(store, frame.FileName, T1 + timedelta(days=1))
    np.testing.assert_allclose(other.EF.drop(2), frame.EF.drop(2).astype(np.float32))


@pytest.fixture
def corrected_cache(tmp_path):
    """A 24-video token cache whose index.csv keeps the original EFs, while Feast holds the original EFs
    at T0 and corrected EFs (+30) for every TRAIN study at T1."""
    frame = manifest(24)
    emb = embeddings_dir(tmp_path / "emb", frame)
    root = tmp_path / "fs"
    labelled_store(root, frame, tmp_path)
    corrected = frame.copy()
    train = corrected.Split == "TRAIN"
    corrected.loc[train, "EF"] += 30.0
    from features.store import sync_sources

    assert sync_sources(root, write_csv(corrected, tmp_path / "fix.csv"), label_time=T1)["labels"] == 8
    return emb, root, frame, corrected


def _probe_results(emb, source=None, **probe):
    """The probe protocol on a token cache with labels from `source` (default: its own index.csv)."""
    from evaluation.probe_protocol import fit_protocol, manifest_frame

    tokens = np.load(emb / "tokens.npy")
    config = section("probe", **probe)
    return fit_protocol(tokens, (source or manifest_frame)(emb), config, time_steps=0).tasks


def test_probe_trains_on_the_labels_feast_holds(corrected_cache, monkeypatch):
    import evaluation.probe_protocol as protocol
    from features.training import feast_frame_source

    emb, root, original, corrected = corrected_cache
    source = feast_frame_source(root)
    frame = source(emb)
    assert list(frame.FileName) == list(original.FileName)  # aligned with tokens.npy rows
    np.testing.assert_allclose(frame.EF, corrected.EF.astype(np.float32))
    assert list(frame.Split) == list(original.Split) and list(frame.View) == list(original.View)

    targets = []
    real_fit = protocol.fit_probe_heads

    def recording_fit(tokens, target, *args):
        targets.append(np.asarray(target, dtype=float))
        return real_fit(tokens, target, *args)

    monkeypatch.setattr(protocol, "fit_probe_heads", recording_fit)
    # one probe head (no lr × wd grid): the probe fits on TRAIN+VAL, every label this test moves
    kwargs = dict(tasks=("ef",), fractions=(1.0,), seeds=(0,), epochs=2, lr_grid=(), wd_grid=())
    from_feast = _probe_results(emb, source, **kwargs)["ef"]
    from_index = _probe_results(emb, **kwargs)["ef"]  # the plain source: index.csv's own (stale) labels
    as_before = _probe_results(emb, feast_frame_source(root, as_of=T1 - timedelta(1)), **kwargs)["ef"]

    fit_rows = original.Split.isin(["TRAIN", "VAL"])
    assert len(targets) == 3 and all(len(t) == fit_rows.sum() == 16 for t in targets)
    assert targets[0].mean() == pytest.approx(corrected.EF[fit_rows].mean(), abs=1e-4)
    assert targets[1].mean() == pytest.approx(original.EF[fit_rows].mean(), abs=1e-4)
    assert targets[0].mean() - targets[1].mean() == pytest.approx(15.0, abs=1e-4)  # 8 of 16 rows moved +30
    np.testing.assert_allclose(targets[2], targets[1], atol=1e-4)  # as of before T1: the original labels
    feast_ef, index_ef = from_feast.by_fraction["1"], from_index.by_fraction["1"]
    assert feast_ef["train_examples"] == index_ef["train_examples"] == 16
    # TEST labels were not corrected, so a probe fit on targets shifted up by 15 on average misses them more
    assert feast_ef["mae"]["mean"] > index_ef["mae"]["mean"] + 2  # measured: 20.7 vs 15.7
    assert as_before.by_fraction["1"]["mae"]["mean"] == pytest.approx(index_ef["mae"]["mean"], rel=1e-5)


def test_studies_without_feast_labels_raise_or_are_excluded_in_place(tmp_path):
    from evaluation.probe_protocol import split_masks
    from features.training import UNLABELLED, feast_frame_source

    frame = manifest(13).astype({"EF": object})
    frame.loc[0, "EF"] = ""  # an unlabelled study: in Feast, with no EF
    labelled_store(tmp_path / "fs", frame.iloc[:12], tmp_path)  # the last study never reached Feast
    emb = embeddings_dir(tmp_path / "emb", frame)
    with pytest.raises(ValueError, match=r"1 of 13 studies .* no label in Feast .*first: 0X0000000012"):
        feast_frame_source(tmp_path / "fs")(emb)
    source = feast_frame_source(tmp_path / "fs", missing="exclude")
    kept = source(emb)
    assert len(kept) == 13 and kept.Split.iloc[-1] == UNLABELLED and kept.View.iloc[-1] in {"A4C", "A2C"}
    assert pd.isna(kept.EF.iloc[0]) and kept.Split.iloc[0] == "TRAIN"  # passed through, not a gap
    train, test = split_masks(kept)
    assert not train[-1] and not test[-1] and train.sum() + test.sum() == 12
    result = _probe_results(emb, source, fractions=(1.0,), seeds=(0,), epochs=1, lr_grid=(), wd_grid=())
    assert result["ef"].by_fraction["1"]["train_examples"] == 7  # 8 TRAIN/VAL rows less the unlabelled one
    assert result["view"].by_fraction["1"]["train_examples"] == 8
