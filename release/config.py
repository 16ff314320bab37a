"""Typed config of params.yaml's `release:` section: how long a candidate waits, where the ledger, the
allowed signers, the witnesses and the model store live, and the optional export.

Frozen and `extra="forbid"` like every section, so a mistyped key (`witness_s3` for `witness_s3_url`)
fails with one line naming it instead of silently releasing without the witness it was meant to have.
Who may review is not here: roles live in the allowed-signers file (`release.signing`), whose changes are
signed ledger entries, because params.yaml is a file the initiator can edit.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ReleaseConfig(BaseModel):
    """params.yaml's `release` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval_timeout_hours: float = Field(gt=0, description="then the candidate expires")
    model_name: str = Field(min_length=1, description="BentoML model name")
    ledger: Path = Field(description="the release ledger")
    allowed_signers: Path = Field(
        description="the allowed-signers file a release manager edits; it takes effect only through a "
        "signed `signers-changed` ledger entry (versions kept in <ledger dir>/signers/<sha256>)",
    )
    signing_key: Path | None = Field(
        description="this machine's signing key: a private key file, or a .pub whose private half is in "
        "ssh-agent; the principal is whatever the allowed signers say that key is",
    )
    witness_dir: Path = Field(
        description="append-only head witness, OUTSIDE the repository (a checkout cannot rewrite it)",
    )
    witness_s3_url: str | None = Field(
        description="s3://bucket/prefix/ with Object Lock (COMPLIANCE): a witness nobody can rewrite"
    )
    # 10 years: longer than the model's service life, so a head stays provable for any audit of a model
    # that served; the objects are 64 bytes each, so retention costs nothing worth trading against that.
    witness_retention_days: int = Field(ge=1, description="Object Lock retention of each witness head")
    export_s3_url: str | None = Field(description="s3:// prefix to export each packaged model to")
