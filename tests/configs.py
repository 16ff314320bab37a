"""params.yaml's sections for tests: the repository's values, with some fields changed and validated again
(so a test that passes a bad key or value still gets the section model's error)."""

from __future__ import annotations

from config.params import Params, load_params
from tests.packaged import REPO

PARAMS: Params = load_params(REPO / "params.yaml")


def section(name: str, **changes):
    """`PARAMS.<name>` with `changes` applied, validated by the section's own model."""
    base = getattr(PARAMS, name)
    return type(base).model_validate(base.model_dump() | changes, strict=False)
