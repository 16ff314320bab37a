"""Data contracts: Great Expectations suites over a dataset's manifest and videos, with quarantine.

Only the settings are imported eagerly; the validator (pandas, and Great Expectations inside it) loads on
first use so a CLI's `--help` stays instant.
"""

from __future__ import annotations

import os
from typing import Any

# GX reads this once, at its first import, which any submodule may trigger; the user's own value wins.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from data_contracts.config import ContractConfig, ContractError

__all__ = ["ContractConfig", "ContractError", "ValidationOutcome", "measure_facts", "validate_dataset"]


def __getattr__(name: str) -> Any:
    if name in ("validate_dataset", "ValidationOutcome"):
        from data_contracts import validate

        return getattr(validate, name)
    if name == "measure_facts":
        from data_contracts.facts import measure_facts

        return measure_facts
    raise AttributeError(f"module 'data_contracts' has no attribute {name!r}")
