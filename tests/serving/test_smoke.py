"""The load smoke test before promotion: the packaged model passes it; a model the service could not load
(no EF probe, truncated weights, a probe of another width) is refused at packaging with one line, nothing
written to the ledger or the store, and production keeps serving the previous model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from release.events import CandidateState
from serving.model_files import ModelFilesError
from serving.smoke import servable_check, smoke_test
from tests.packaged import PackagedModel, bento_store, signing_keys


def test_the_packaged_model_loads_and_runs(packaged_model: PackagedModel) -> None:
    threads = torch.get_num_threads()
    result = smoke_test(packaged_model.model_dir, packaged_model.settings())
    assert "ef" in result["tasks"] and torch.get_num_threads() == threads


def _broken_runs(run: Path, root: Path) -> dict[str, Path]:
    def copy(name: str) -> Path:
        out = root / name
        shutil.copytree(run, out)
        return out

    no_ef = copy("no-ef")
    shutil.rmtree(no_ef / "probes" / "ef")
    truncated = copy("truncated")
    weights = (truncated / "encoder.pt").read_bytes()
    (truncated / "encoder.pt").write_bytes(weights[: len(weights) // 2])
    mismatched = copy("mismatched")
    artifact = torch.load(mismatched / "probes" / "ef" / "seed-0.pt", weights_only=False)
    state = artifact["state_dict"]
    key = next(k for k, v in state.items() if getattr(v, "ndim", 0) == 2)
    state[key] = torch.zeros(state[key].shape[0], state[key].shape[1] + 8)  # a probe of another width
    torch.save(artifact, mismatched / "probes" / "ef" / "seed-0.pt")
    return {"probes/ef": no_ef, "truncated": truncated, "mismatched": mismatched}


@pytest.mark.parametrize("fault", ["probes/ef", "truncated", "mismatched"])
def test_an_unloadable_model_is_refused_before_promotion(
    packaged_model: PackagedModel, tmp_path: Path, fault: str
) -> None:
    import bentoml

    from config.params import load_params
    from release.decisions import record_decision, register_candidate, sign_decision
    from release.ledger import open_ledger
    from release.manifest import run_files
    from release.package import PackageError, package_candidate

    run = _broken_runs(packaged_model.run_dir, tmp_path)[fault]
    with pytest.raises(ModelFilesError) as direct:
        smoke_test(run, packaged_model.settings())
    assert "\n" not in str(direct.value)
    release = load_params(packaged_model.params).release
    keys = signing_keys(Path(release.ledger).parent / "test-keys")
    evaluation = packaged_model.model_dir / "evaluation.json"
    files = run_files(run, **{"evaluation.json": evaluation})
    with bento_store(packaged_model.bento_home):
        ledger = open_ledger(release)
        production, stored = ledger.production(), len(bentoml.models.list())
        candidate = register_candidate(
            ledger, signer=keys["alice"], files=files, model_version=f"broken-{fault}", data_version="sim",
            git_commit="test", gates=[{"name": "ef_mae", "value": 1.0, "threshold": 100.0, "passed": True}],
            metrics={}, params={},
        )  # fmt: skip
        record_decision(
            ledger, sign_decision(ledger, keys["bob"], "approve", candidate), signer=keys["alice"]
        )
        lines = len(ledger.entries())
        check = servable_check(packaged_model.settings())
        with pytest.raises(PackageError, match=f"refusing to package {candidate}: ") as refused:
            package_candidate(ledger, candidate, signer=keys["alice"], check=check)
        assert "\n" not in str(refused.value)
        assert len(ledger.entries()) == lines and ledger.production() == production
        assert len(bentoml.models.list()) == stored
        assert ledger.candidate(candidate).state == CandidateState.APPROVED
