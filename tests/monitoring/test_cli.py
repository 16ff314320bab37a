"""`echojepa monitor`: bad params fail in one line before anything heavy starts; start-up stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from tests.packaged import write_params


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  drift_shar: 0.3\n", "monitoring.drift_shar: unknown key"),
        ("  drift_share: 1.5\n", "monitoring.drift_share: Input should be less than or equal to 1"),
        ("  alert_on: [drift]\n", "monitoring.alert_on: unknown alert reason(s) ['drift']"),
    ],
)
@pytest.mark.parametrize("command", [["monitor"], ["monitor", "ui"]])
def test_a_bad_monitoring_key_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: list[str], section: str, message: str
) -> None:
    params = write_params(
        tmp_path / "params.yaml", monitoring=yaml.safe_load("monitoring:\n" + section)["monitoring"]
    )
    with pytest.raises(SystemExit) as exited:
        main([*command, "--params", str(params)])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"echojepa: error: {params}: {message}") and err.count("\n") == 1


def test_cli_start_up_imports_neither_evidently_nor_prefect() -> None:
    code = "import sys, flows.cli; print(sorted(m for m in ('evidently', 'prefect') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_monitor_help_names_the_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "monitor", "--help"], capture_output=True, text=True, check=True
    )
    for option in ("--since", "--until", "--current", "--reference", "--params", "ui"):
        assert option in done.stdout
