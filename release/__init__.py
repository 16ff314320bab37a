"""Release: the tamper-evident ledger (`release.ledger`), reviewer decision rules (`release.decisions`),
packaging
into the BentoML model store, production resolution, rollback and S3 export (`release.package`).

Library code: never imports prefect; bentoml, pandas and boto3 are imported lazily, inside the functions.
"""
