"""The model commands' own words: the progress bar counts epochs it knows, and a short run's loss summary
says what it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from flows.commands_model import loss_summary
from tests.packaged import write_params


def test_the_loss_summary_of_a_short_run_is_one_figure() -> None:
    assert loss_summary({"steps": 4, "first_loss": 0.753, "final_loss": 0.753}) == "loss 0.753 over 4 steps"
    assert loss_summary({"steps": 300, "first_loss": 0.9, "final_loss": 0.41}) == "loss 0.900 → 0.410"


def test_pretrain_shows_how_many_epochs_there_are(sim_dir: Path, tmp_path: Path, capfd) -> None:
    params = write_params(
        tmp_path / "params.yaml",
        data={"root": str(sim_dir.parent), "dataset": sim_dir.name, "cache": str(tmp_path / "cache"),
              "validated": str(tmp_path / "validated"), "frames": 8, "resolution": 64, "batch_size": 2},
        optimization={"steps": 4, "warmup": 1, "checkpoint_every": 2},
    )  # fmt: skip
    with pytest.raises(SystemExit) as done:  # cyclopts ends the command with its exit code
        main(["pretrain", "--params", str(params), "--out", str(tmp_path / "run"), "--no-resume"])
    assert done.value.code in (0, None)
    out, err = capfd.readouterr()
    assert "/-" not in out + err  # Lightning's "Epoch 0/-2" for an unbounded run
    assert "Epoch 1/1" in out + err  # two checkpoint intervals: epochs 0 and 1
    assert "loss" in out and "over 4 steps" in out


@pytest.mark.parametrize("flag", ["--help"])
def test_validate_help_names_the_folder_it_writes(flag: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["validate", flag])
    assert "data.validated" in capsys.readouterr().out
