"""The `echojepa` App object, the argument types its commands share, and params.yaml section loading.

Commands live in per-concern modules (`commands_data`, `commands_model`) and register on this App;
`flows.cli` imports them and is the entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from cyclopts import App, Parameter
from pydantic import BaseModel, ValidationError

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

SectionModel = TypeVar("SectionModel", bound=BaseModel)


def overrides(pairs: list[str]) -> dict:
    """`section.key=value` pairs; values are read as YAML (numbers, lists, booleans)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"--set {pair!r}: expected section.key=value, e.g. optimization.steps=100")
        out[key] = yaml.safe_load(value)
    return out


def load_section(params: Path, name: str, model: type[SectionModel]) -> SectionModel:
    """One section of params.yaml validated by its package's config model (a missing section gives the
    defaults). Raises ValueError naming the bad key, e.g. "params.yaml: validate.max_share: unknown key"."""
    import yaml

    raw = yaml.safe_load(Path(params).read_text()) if Path(params).exists() else {}
    try:
        return model.model_validate((raw or {}).get(name) or {}, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in (name, *first["loc"]))
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ValueError(f"{params}: {where}: {reason}") from None


def in_dvc_repo(path: Path = Path(".")) -> Path | None:
    """The enclosing DVC repository root (a folder holding .dvc/), if any."""
    for folder in (path.resolve(), *path.resolve().parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None
