"""The platform's configuration: the typed root of params.yaml and its one loader (config.params), and the
run layout that names every produced path (config.layout). Importing this package is cheap: the CLI takes
`PARAMS_FILE` from here before any command runs."""

from pathlib import Path

PARAMS_FILE = Path("params.yaml")
