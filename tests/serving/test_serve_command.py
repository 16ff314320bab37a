"""`echojepa serve` (the server fixture starts every served test through it); a bad setting fails fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from tests.packaged import write_params


def test_a_mistyped_setting_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = write_params(tmp_path / "params.yaml", serving={"max_upload": 3})
    with pytest.raises(SystemExit) as info:
        main(["serve", "--params", str(params)])
    err = capsys.readouterr().err
    assert info.value.code == 1 and err.count("\n") == 1
    assert "serving.max_upload: unknown key" in err
