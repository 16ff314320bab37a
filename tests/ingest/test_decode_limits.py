"""Ingest's decode budget: a DICOM bomb in a clinical folder is rejected on its header, before its pixels
are decoded, and the other files of the folder are still ingested."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest import ingest_source
from tests.configs import section
from tests.hostile_files import rgb_rle_dicom
from tests.ingest.conftest import read_rows


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHOJEPA_DEID_SALT", "test-salt-not-secret-0123456789abcdef")


def test_a_dicom_bomb_is_rejected_before_decoding(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    rgb_rle_dicom(src / "bomb.dcm", 1000, 1024, 1024)  # 47 MB file, 3 GB decoded
    rgb_rle_dicom(src / "small.dcm", 20, 64, 64, striped=True)  # decodes, though it has no scan sector
    limit = section("ingest").max_decoded_mb
    started = time.perf_counter()
    result = ingest_source(src, tmp_path / "out", max_decoded_mb=limit)
    assert time.perf_counter() - started < 5.0  # decoding the bomb alone would take minutes
    rejects = {row["Reason"] for row in read_rows(tmp_path / "out" / "ingest_rejects.csv")}
    assert "too_large_decoded" in rejects and result.rejected == 2
    assert "sector_not_found" in rejects  # positive control: the small file was decoded and looked at
