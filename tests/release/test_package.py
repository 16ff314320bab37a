"""Packaging into an isolated BentoML store, production through the ledger, rollback, truncation detection
via the heads stored in the models' metadata, and export to a moto S3 server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release.decisions import DecisionError, record_decision, register_candidate
from release.ledger import Ledger, sha256_file
from release.package import (
    PackageError,
    expected_heads,
    export_model,
    package_candidate,
    production_model,
    rollback,
)
from tests.s3_servers import moto_s3

GATES = [{"name": "ef_mae", "value": 8.0, "threshold": 10.0, "passed": True}]


def _run_dir(root: Path, seed: int) -> Path:
    run = root / f"run{seed}"
    (run / "probes").mkdir(parents=True)
    (run / "encoder.pt").write_bytes(bytes([seed]) * 64)
    (run / "config.yaml").write_text(f"seed: {seed}\n")
    (run / "probes" / "ef.pt").write_bytes(b"ef-probe")
    (run / "probes" / "view.pt").write_bytes(b"view-probe")
    return run


def _evaluation(version: str) -> dict:
    return {
        "metrics": {
            "test": {"ef_mae": {"mean": 8.1, "std": 0.2}, "view_acc": 0.7},
            "n": 47,
            "note": "x",
            "nan": None,
        },
        "gates": GATES,
        "data_version": "d1",
        "model_version": version,
    }


def _reference(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "brightness": rng.random(n),
            "ef": rng.random(n) * 70,
            "view": ["A4C"] * n,
            "embedding": [rng.random(8).astype("float32") for _ in range(n)],
        }
    )


def _approved(ledger: Ledger, run: Path, version: str, gates: list[dict] = GATES) -> str:
    cid = register_candidate(
        ledger,
        model_version=version,
        weights_sha256=sha256_file(run / "encoder.pt"),
        data_version="d1",
        git_commit="c0ffee",
        evaluation_sha256="e" * 64,
        gates=gates,
        initiator="alice",
        metrics=_evaluation(version)["metrics"],
        params={},
    )
    if all(g["passed"] for g in gates):
        record_decision(ledger, cid, approve=True, reviewer="bob")
    return cid


def _release(ledger: Ledger, tmp_path: Path, seed: int) -> tuple[str, str]:
    run = _run_dir(tmp_path, seed)
    cid = _approved(ledger, run, f"v{seed}")
    evaluation = _evaluation(f"v{seed}")
    tag = package_candidate(ledger, cid, run_dir=run, evaluation=evaluation, reference=_reference())
    return cid, tag


def test_package_writes_model_and_promotes(bento_home: Path, ledger_path: Path, tmp_path: Path) -> None:
    import bentoml

    ledger = Ledger(ledger_path)
    cid, tag = _release(ledger, tmp_path, 1)
    assert str(bento_home) in bentoml.models.get(tag).path  # the isolated store
    model = bentoml.models.get(tag)
    assert model.info.labels == {"candidate": cid, "stage": "production-candidate"}
    meta = model.info.metadata
    assert meta["candidate_id"] == cid and meta["data_version"] == "d1" and meta["git_commit"] == "c0ffee"
    assert meta["test.ef_mae.mean"] == 8.1 and meta["test.view_acc"] == 0.7 and meta["n"] == 47.0
    assert "note" not in meta and "nan" not in meta
    # the stored head is the hash of the `promoted` line, which is the ledger head right after promotion
    events = [e["event"] for e in ledger.entries()]
    assert events == ["candidate", "approved", "packaged", "promoted"]
    assert meta["ledger_head"] == ledger.head() == ledger.entries()[-1]["hash"]
    assert expected_heads() == [ledger.head()]
    assert ledger.verify(expected_heads=expected_heads()).ok
    # files: encoder, config, probes, evaluation.json, reference.parquet; hashes in the `packaged` line
    for name in ("encoder.pt", "config.yaml", "probes/ef.pt", "probes/view.pt", "evaluation.json"):
        assert Path(model.path_of(name)).is_file()
    assert not Path(model.path_of("target_encoder.pt")).exists()
    packaged = ledger.entries()[2]
    assert packaged["bento_tag"] == tag
    assert packaged["files"]["encoder.pt"] == sha256_file(model.path_of("encoder.pt"))
    assert json.loads(Path(model.path_of("evaluation.json")).read_text())["model_version"] == "v1"
    ref = pd.read_parquet(model.path_of("reference.parquet"))
    assert len(ref) == 6 and list(ref.columns) == ["brightness", "ef", "view", "embedding"]
    assert len(ref["embedding"].iloc[0]) == 8
    # production resolves through the ledger
    assert ledger.production() == "v1" and ledger.candidate(cid)["state"] == "production"
    assert production_model(ledger).tag == model.tag
    with pytest.raises(DecisionError, match="is production"):  # packaging twice
        package_candidate(ledger, cid, run_dir=tmp_path / "run1", evaluation={}, reference=_reference())


def test_only_approved_candidates_are_packaged(bento_home: Path, ledger_path: Path, tmp_path: Path) -> None:
    import bentoml

    ledger = Ledger(ledger_path)
    run = _run_dir(tmp_path, 2)
    failing = [{"name": "margin", "value": 0.0, "threshold": 0.1, "passed": False}]
    bad = _approved(ledger, run, "v2", gates=failing)
    with pytest.raises(DecisionError, match=r"failed (its gates|gate\(s\))"):
        package_candidate(ledger, bad, run_dir=run, evaluation={}, reference=_reference())
    pending = register_candidate(
        ledger, model_version="v3", weights_sha256="0" * 64, data_version="d", git_commit="g",
        evaluation_sha256="e", gates=GATES, initiator="alice", metrics={}, params={},
    )  # fmt: skip
    with pytest.raises(DecisionError, match="pending"):
        package_candidate(ledger, pending, run_dir=run, evaluation={}, reference=_reference())
    # approved, but the weights in run_dir are not the reviewed ones
    record_decision(ledger, pending, approve=True, reviewer="bob")
    with pytest.raises(DecisionError, match="weights_sha256"):
        package_candidate(ledger, pending, run_dir=run, evaluation={}, reference=_reference())
    with pytest.raises(PackageError, match=r"encoder\.pt"):
        package_candidate(ledger, pending, run_dir=tmp_path / "empty", evaluation={}, reference=_reference())
    assert bentoml.models.list() == [] and ledger.production() is None
    assert production_model(ledger) is None
    assert "packaged" not in [e["event"] for e in ledger.entries()]


def test_rollback_and_history(bento_home: Path, ledger_path: Path, tmp_path: Path) -> None:
    ledger = Ledger(ledger_path)
    with pytest.raises(DecisionError, match="no previous production"):
        rollback(ledger, reviewer="bob", reason="bad")
    (c1, t1), (c2, t2), (c3, t3) = (_release(ledger, tmp_path, s) for s in (1, 2, 3))
    assert ledger.history() == ["v1", "v2", "v3"] and str(production_model(ledger).tag) == t3
    with pytest.raises(DecisionError, match="reason"):
        rollback(ledger, reviewer="bob", reason=" ")
    assert rollback(ledger, reviewer="bob", reason="EF drift on device X") == "v2"
    assert ledger.production() == "v2" and str(production_model(ledger).tag) == t2
    last = ledger.entries()[-1]
    assert last["event"] == "rollback" and last["from_model_version"] == "v3" and last["reviewer"] == "bob"
    assert rollback(ledger, reviewer="bob", reason="v2 also bad") == "v1"
    assert str(production_model(ledger).tag) == t1
    with pytest.raises(DecisionError, match="no previous production"):
        rollback(ledger, reviewer="bob", reason="again")
    assert ledger.history() == ["v1", "v2", "v3", "v2", "v1"]
    states = {c["candidate_id"]: c["state"] for c in ledger.candidates()}
    assert states == {c1: "production", c2: "retired", c3: "retired"}
    assert ledger.verify(expected_heads=expected_heads()).ok and len(expected_heads()) == 3


def test_truncation_detected_through_the_store(bento_home: Path, ledger_path: Path, tmp_path: Path) -> None:
    ledger = Ledger(ledger_path)
    _release(ledger, tmp_path, 1)
    _release(ledger, tmp_path, 2)
    lines = ledger_path.read_text().splitlines()
    ledger_path.write_text("".join(line + "\n" for line in lines[:6]))  # drop v2's packaged + promoted lines
    assert ledger.verify().ok and ledger.production() == "v1"  # looks fine on its own ...
    result = ledger.verify(expected_heads=expected_heads())
    assert (result.ok, result.line) == (False, 6) and "truncated after line 6" in result.reason
    with pytest.raises(DecisionError, match="truncated"):  # ... and nothing is packaged on top of it
        _release(ledger, tmp_path / "more", 3)


def test_export_to_s3(
    bento_home: Path, ledger_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bentoml

    ledger = Ledger(ledger_path)
    _, tag = _release(ledger, tmp_path, 1)
    with moto_s3() as endpoint:
        for key, value in endpoint.env().items():
            monkeypatch.setenv(key, value)
        endpoint.client().create_bucket(Bucket="models")
        url = export_model(tag, "s3://models/echojepa/", endpoint_url=endpoint.url)
        name, version = tag.split(":")
        assert url == f"s3://models/echojepa/{name}-{version}.bentomodel"
        local = tmp_path / "back.bentomodel"
        endpoint.client().download_file("models", url.split("/", 3)[3], str(local))
        assert local.stat().st_size > 0
        with pytest.raises(PackageError, match=r"upload of .* failed: .*NoSuchBucket"):
            export_model(tag, "s3://missing-bucket/x.bentomodel")
    bentoml.models.delete(tag)
    bentoml.models.import_model(str(local))  # the exported archive restores the model
    assert bentoml.models.get(tag).info.metadata["ledger_head"] == ledger.entries()[-1]["hash"]
    with pytest.raises(PackageError, match="s3://"):
        export_model(tag, "/tmp/x")
