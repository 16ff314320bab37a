"""When the demo skips the release: production already serves the run's encoder and probes, checked with a
real ledger against the sha256 of every packaged file (an edited probe, an extra seed, a new encoder or no
production at all mean a new release)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.layout import RunLayout
from config.params import load_params
from demo.release import production_serves
from release.ledger import Ledger, sha256_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunLayout:
    monkeypatch.chdir(tmp_path)
    layout = load_params(ROOT / "params.yaml").layout()
    files = {
        layout.encoder: b"encoder",
        layout.probe_file("ef", 0): b"ef0",
        layout.probe_file("ef", 1): b"ef1",
    }
    files[layout.probe_frame] = b"FileName\n"  # beside the probes, never packaged
    for path, body in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return layout


def _release(ledger: Ledger, layout: RunLayout, candidate: str) -> None:
    """Register, package (with the files' hashes, as release.package records them) and promote."""
    files = [layout.encoder, *sorted(layout.probes_dir.glob("*/seed-*.pt"))]
    packaged = {str(p.relative_to(layout.run_dir)): sha256_file(p) for p in files}
    version = {"candidate_id": candidate, "model_version": f"v-{candidate}"}
    ledger.append("candidate", **version)
    ledger.append("packaged", **version, bento_tag=f"echojepa:{candidate}", files=packaged)
    ledger.append("promoted", **version, bento_tag=f"echojepa:{candidate}")


def test_unchanged_run_is_served(layout: RunLayout) -> None:
    ledger = Ledger(layout.ledger)
    assert not production_serves(ledger, layout)  # nothing promoted yet
    _release(ledger, layout, "cand-1")
    assert production_serves(ledger, layout)


@pytest.mark.parametrize("change", ["edit a probe", "add a seed", "new encoder"])
def test_changed_run_is_a_new_release(layout: RunLayout, change: str) -> None:
    ledger = Ledger(layout.ledger)
    _release(ledger, layout, "cand-1")
    if change == "edit a probe":
        layout.probe_file("ef", 1).write_bytes(b"ef1, refitted")
    elif change == "add a seed":
        layout.probe_file("ef", 2).write_bytes(b"ef2")
    else:
        layout.encoder.write_bytes(b"encoder, pretrained again")
    assert not production_serves(ledger, layout)
    _release(ledger, layout, "cand-2")  # released again: served
    assert production_serves(ledger, layout)
