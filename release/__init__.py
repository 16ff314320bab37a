"""Release: who may release (SSH signatures against an allowed-signers file, `release.signing`), the signed,
witnessed ledger (`release.ledger`, rules in `release.ledger_rules`, witnesses in `release.witness`), reviewer
decisions as signed documents (`release.decisions`), frozen candidate files and their manifest
(`release.manifest`), packaging, production and rollback (`release.package`), the check the service makes at
load (`release.served`), crash repair (`release.recover`) and the ordered write points (`release.durable`).

Library code: never imports prefect; bentoml and boto3 are imported lazily, inside the functions.
"""
