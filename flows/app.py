"""The `echojepa` App object and the argument types its commands share (params.yaml is read by
config.params.load_params alone).

Commands live in per-concern modules (`commands_data`, `commands_model`) and register on this App;
`flows.cli` imports them and is the entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cyclopts import App, Parameter

app = App(
    name="echojepa",
    help="EchoJEPA platform: echocardiography videos from raw files to a monitored production model.",
    version_flags=[],
    # `--set a.b=1 c.d=2` (as the docs write it) and `--set a.b=1 --set c.d=2` both work for list options
    default_parameter=Parameter(consume_multiple=True),
)

Kind = Literal[
    "depth_attenuation", "gaussian_shadow", "gain_drift", "dynamic_range", "blur", "sector_dropout"
]
Severity = Literal["low", "medium", "high"]
Cohort = Literal["adult", "pediatric", "mixed"]


def in_dvc_repo(path: Path = Path(".")) -> Path | None:
    """The enclosing DVC repository root (a folder holding .dvc/), if any."""
    for folder in (path.resolve(), *path.resolve().parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None
