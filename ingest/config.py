"""Typed config of the `ingest:` section of params.yaml.

Frozen and `extra="forbid"` like every other section: a mistyped key (`fold_map` for `pediatric_folds`)
fails and names itself instead of silently ingesting with the default split. No credentials live here: S3
keys come from the environment only, and the de-identification salt from ECHOJEPA_DEID_SALT or `salt_file`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Split = Literal["TRAIN", "VAL", "TEST"]


class IngestConfig(BaseModel):
    """Where the salt lives, the S3 endpoint, and how EchoNet-Pediatric's ten folds become splits."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # the de-identification salt file, created once (mode 0600, git-ignored folder) when missing
    salt_file: str
    # S3-compatible endpoint for s3:// sources; None: ECHOJEPA_S3_ENDPOINT / AWS_ENDPOINT_URL / AWS
    s3_endpoint: str | None
    # EchoNet-Pediatric folds 0–9 per split; the default keeps fold 8 to validate and fold 9 to test
    pediatric_folds: dict[Split, list[int]]
    # decoded pixel data of one DICOM (frames x rows x columns x samples x bytes), from its header, before
    # decoding: larger files are rejected as `too_large_decoded` (serving's `max_decoded_mb` does the same)
    max_decoded_mb: float = Field(gt=0)
    # a DICOM with BurnedInAnnotation = YES: clean (pixel cleaning, recorded) or reject (ingest_rejects.csv)
    burned_in: Literal["clean", "reject"]

    @field_validator("pediatric_folds")
    @classmethod
    def _folds_once(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        seen: dict[int, str] = {}
        for split, folds in value.items():
            for fold in folds:
                if not 0 <= fold <= 9:
                    raise ValueError(f"ingest.pediatric_folds.{split}: fold {fold} is outside 0–9")
                if fold in seen:
                    raise ValueError(f"ingest.pediatric_folds: fold {fold} is under {seen[fold]} and {split}")
                seen[fold] = split
        return value

    def ingest_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `ingest_source` that this section sets."""
        return {
            "endpoint_url": self.s3_endpoint,
            "salt_file": Path(self.salt_file),
            "fold_map": self.pediatric_folds,
            "max_decoded_mb": self.max_decoded_mb,
            "burned_in": self.burned_in,
        }
