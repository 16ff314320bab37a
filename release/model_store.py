"""Where this checkout's BentoML model store lives: `models/bentoml` unless `$BENTOML_HOME` says otherwise.

The store pairs with the checkout's release ledger (registry/ledger.jsonl), which verifies the promotion
heads recorded in the store. BentoML's own default, `~/bentoml`, is shared by every checkout of a machine:
a second checkout's ledger then meets models it has never seen, and `ledger verify` rightly refuses them.
So every entry point that may touch the store sets the default before BentoML is imported: the `echojepa`
CLI (and through it DVC stages, flows and `echojepa serve`), `release.package` (a Prefect worker running
the retrain flow) and the `serving` package (`bentoml serve serving.service:EchoJEPA` started by hand).
Paths are relative to the working directory, the repository root, like `registry/` and `params.yaml`.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_STORE = Path("models/bentoml")


def use_project_model_store() -> Path:
    """Set `$BENTOML_HOME` to `models/bentoml` (absolute) unless it is set; returns the store in use."""
    os.environ.setdefault("BENTOML_HOME", str(MODEL_STORE.resolve()))
    return Path(os.environ["BENTOML_HOME"])
