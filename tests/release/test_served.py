"""What the service checks at load: the folder in the real BentoML store holds exactly the released bytes,
of the production tag, behind a ledger that verifies; each refusal is one line naming what differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.ledger import Ledger
from release.served import ModelVerificationError, verify_model_dir
from tests.release.releases import release


@pytest.fixture
def released(bento_home: Path, ledger: Ledger, tmp_path: Path, keys) -> tuple[str, Path]:
    import bentoml

    release(ledger, keys, tmp_path, 1)
    _, tag = release(ledger, keys, tmp_path, 2, who="bob", reviewer="carol")
    return tag, Path(bentoml.models.get(tag).path)


def test_the_released_folder_verifies(ledger: Ledger, released) -> None:
    tag, folder = released
    model = verify_model_dir(folder, ledger)
    assert (model.tag, model.model_version, model.registrant, model.reviewer) == (tag, "v2", "bob", "carol")
    assert "probes/ef/seed-0.pt" in model.manifest and "model.yaml" not in model.manifest


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("edit", "probes/ef/seed-0.pt differs from the registered manifest"),
        ("add", "probes/ef/seed-9.pt is not in the registered manifest"),
        ("remove", "config.yaml is missing"),
    ],
)
def test_a_changed_file_in_the_store_is_refused(ledger: Ledger, released, change: str, why: str) -> None:
    tag, folder = released
    if change == "edit":
        (folder / "probes" / "ef" / "seed-0.pt").write_bytes(b"swapped head")
    elif change == "add":
        (folder / "probes" / "ef" / "seed-9.pt").write_bytes(b"an extra head the service might load")
    else:
        (folder / "config.yaml").unlink()
    with pytest.raises(ModelVerificationError, match=f"model {tag}: {why}.*; refusing to serve it"):
        verify_model_dir(folder, ledger)


def test_another_tag_or_a_ledger_that_does_not_verify_is_refused(ledger: Ledger, released, keys) -> None:
    import bentoml

    tag, folder = released
    older = next(str(m.tag) for m in bentoml.models.list() if str(m.tag) != tag)
    with pytest.raises(ModelVerificationError, match=f"{older} is not production"):
        verify_model_dir(bentoml.models.get(older).path, ledger, tag=older)
    assert (
        verify_model_dir(
            bentoml.models.get(older).path, ledger, tag=older, production_only=False
        ).model_version
        == "v1"
    )
    with ledger.path.open("a") as fh:
        fh.write('{"torn')
    with pytest.raises(ModelVerificationError, match=r"does not verify .*line 10"):
        verify_model_dir(folder, ledger)
