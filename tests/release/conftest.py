"""Fixtures for release tests: a fresh ledger path, no ledger key, and an isolated BentoML store per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")


@pytest.fixture(autouse=True)
def _no_ledger_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECHOJEPA_LEDGER_KEY", raising=False)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "registry" / "ledger.jsonl"


@pytest.fixture
def bento_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """BENTOML_HOME=<tmp> for this test; BentoML caches its store as a singleton, so patch that too."""
    home = tmp_path / "bentoml"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    with (
        BentoMLContainer.bentoml_home.patch(str(home)),
        BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))),
    ):
        yield home
