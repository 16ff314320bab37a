"""`echojepa demo`: the platform end to end on synthetic data, as a person would drive it.

The demo is a client of the platform, not part of it: what a person would type runs as a subprocess
(`dvc repro`, `echojepa retrain`, `echojepa release sign` / `approve`, `echojepa serve`, `echojepa
monitor`), and what the demo reads or decides in-process goes through the libraries (config.params and its
run layout, release.ledger, evaluation.results / evaluation.gates, flows.orchestrator and flows.approval for
the Prefect server), never through a CLI command module.

Modules: `run` (the sequence and the pipeline half), `production` (release, serve, traffic, monitoring),
`release` (the retrain flow up to its approval wait), `keys` (the two demo principals), `traffic` (the
service and its HTTP traffic), `shell` (the command lines a person types) and `report` (the tables and
"where to look", pure functions of the run layout's files). Heavy imports stay inside functions so
`echojepa --help` stays instant.
"""
