"""When the demo skips the release: production already serves the run's encoder and probes, checked with a
real signed ledger against the registered sha256 of every packaged file (an edited probe, an extra seed, a
new encoder or no production at all mean a new release). And the demo's two principals: generated keys
whose allowed-signers file gives them different people's roles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.layout import RunLayout
from config.params import load_params
from demo.keys import INITIATOR, REVIEWER, demo_keys
from demo.release import production_serves
from release.decisions import register_candidate, start_ledger
from release.events import Role
from release.ledger import Ledger
from release.manifest import run_files
from release.package import package_candidate
from release.signing import AllowedSigners, Signer
from release.witness import FileWitness
from tests.release.releases import GATES, decide

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunLayout:
    monkeypatch.chdir(tmp_path)
    layout = load_params(ROOT / "params.yaml").layout()
    files = {
        layout.encoder: b"encoder",
        layout.probe_file("ef", 0): b"ef0",
        layout.probe_file("ef", 1): b"ef1",
        layout.evaluation: json.dumps({"gates": GATES}).encode(),
    }
    files[layout.probe_frame] = b"FileName\n"  # beside the probes, never packaged
    for path, body in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return layout


@pytest.fixture
def ledger(layout: RunLayout, tmp_path: Path, keys, bento_home) -> Ledger:
    book = Ledger(layout.ledger, witnesses=[FileWitness(tmp_path / "witness")])
    start_ledger(book, keys.signer("dana"), keys.signers())
    return book


def _release(ledger: Ledger, layout: RunLayout, keys, version: str) -> None:
    """Register the run's files as they are now (alice), approve (bob), package and promote."""
    files = run_files(layout.run_dir, **{"evaluation.json": layout.evaluation})
    cid = register_candidate(
        ledger, signer=keys.signer("alice"), files=files, model_version=version, data_version="d1",
        git_commit="c0ffee", gates=GATES, metrics={}, params={},
    )  # fmt: skip
    decide(ledger, keys, cid)
    package_candidate(ledger, cid, signer=keys.signer("alice"))


def test_unchanged_run_is_served(ledger: Ledger, layout: RunLayout, keys) -> None:
    assert not production_serves(ledger, layout)  # nothing promoted yet
    _release(ledger, layout, keys, "v1")
    assert production_serves(ledger, layout)


@pytest.mark.parametrize("change", ["edit a probe", "add a seed", "new encoder"])
def test_changed_run_is_a_new_release(ledger: Ledger, layout: RunLayout, keys, change: str) -> None:
    _release(ledger, layout, keys, "v1")
    if change == "edit a probe":
        layout.probe_file("ef", 1).write_bytes(b"ef1, refitted")
    elif change == "add a seed":
        layout.probe_file("ef", 2).write_bytes(b"ef2")
    else:
        layout.encoder.write_bytes(b"encoder, pretrained again")
    assert not production_serves(ledger, layout)
    _release(ledger, layout, keys, "v2")  # released again: served
    assert production_serves(ledger, layout)


def test_demo_keys_are_two_principals_in_different_roles(tmp_path: Path) -> None:
    made = demo_keys(tmp_path / "demo-keys")
    signers = AllowedSigners(made.allowed_signers.read_text())
    assert signers.roles_of(INITIATOR) == {Role.INITIATOR}
    assert signers.roles_of(REVIEWER) == {Role.REVIEWER, Role.RELEASE_MANAGER}
    assert Signer(made.initiator).identify(signers, Role.INITIATOR).principal == INITIATOR
    assert Signer(made.reviewer).identify(signers, Role.REVIEWER).principal == REVIEWER
    again = demo_keys(tmp_path / "demo-keys")  # a rerun keeps the keys (the ledger pins them)
    assert again.allowed_signers.read_text() == made.allowed_signers.read_text()
    assert oct(made.initiator.stat().st_mode & 0o777) == "0o600"


def test_an_unsigned_ledger_and_its_store_are_moved_aside(
    ledger: Ledger, layout: RunLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from demo.keys import retire_unsigned

    settings = load_params(ROOT / "params.yaml").release
    store = tmp_path / "old-store"
    (store / "models").mkdir(parents=True)
    monkeypatch.setenv("BENTOML_HOME", str(store))
    retire_unsigned(Console(), settings)  # a signed ledger: left alone
    assert ledger.path.is_file() and store.is_dir()

    ledger.path.write_text(
        '{"event":"candidate","hash":"ab","prev":"00","seq":1}\n'
    )  # written before signing
    retire_unsigned(Console(), settings)
    moved = sorted(p.name for p in tmp_path.iterdir() if ".unsigned-" in p.name)
    assert [name.split(".unsigned-")[0] for name in moved] == ["old-store", "registry"]
    assert not ledger.path.exists() and not store.exists()
