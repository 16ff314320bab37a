"""Bring data into `data/raw/<name>/` in the platform's EchoNet layout: EchoNet-Dynamic and -Pediatric
folders, `s3://` prefixes and de-identified clinical DICOM. Attributes load lazily, so importing is cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["IngestConfig", "IngestError", "IngestResult", "ingest_source"]

if TYPE_CHECKING:
    from ingest.api import IngestResult, ingest_source
    from ingest.common import IngestError
    from ingest.config import IngestConfig

_HOMES = {
    "IngestResult": "ingest.api",
    "ingest_source": "ingest.api",
    "IngestError": "ingest.common",
    "IngestConfig": "ingest.config",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
