"""Request checks before BentoML parses a body (serving.forms) and the one-sentence error bodies
(serving.guard.error_sentence), without a server."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from starlette.datastructures import Headers

from serving.clips import decode_clips, encode_clip
from serving.errors import BadInput
from serving.forms import check_clip_batch, field_text, normalize_upload
from serving.guard import error_sentence


def _multipart(parts: list[tuple[str, bytes, str | None]]) -> tuple[Headers, bytes]:
    boundary = "b0undary"
    body = b""
    for name, data, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return Headers({"content-type": f"multipart/form-data; boundary={boundary}"}), body


def test_upload_is_reencoded_so_text_fields_keep_their_exact_value() -> None:
    headers, body = _multipart([
        ("video", b"\x00VIDEO\xff", "Doe_Jane.avi"), ("study_id", b"1e5", None), ("device", b'"GE"', None),
    ])  # fmt: skip
    out, content_type = asyncio.run(normalize_upload(headers, body, ("study_id", "device", "cohort")))
    assert content_type.startswith("multipart/form-data; boundary=echojepa-")
    assert b"\x00VIDEO\xff" in out and b"Doe_Jane" not in out  # the client's file name is not forwarded
    assert b'"1e5"' in out and b'"GE"' in out  # JSON strings: BentoML's json.loads gives them back exactly
    assert field_text("12345") == "12345" and field_text('"abc"') == "abc" and field_text("true") == "true"


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([("study_id", b"1", None)], "no video in the request"),
        ([("video", b"http://example.com/a.avi", None)], "holds text, not a file"),
        ([("video", b"a", "a.avi"), ("video", b"b", "b.avi")], "one video per request"),
        ([("video", b"a", "a.avi"), ("patient", b"Doe", None)], "unknown form field 'patient'"),
    ],
)
def test_bad_forms_are_refused(parts, message: str) -> None:
    headers, body = _multipart(parts)
    with pytest.raises(BadInput, match=message) as info:
        asyncio.run(normalize_upload(headers, body, ("study_id",)))
    assert info.value.status == 400


def test_clip_batches_are_checked_before_batching() -> None:
    shape = (4, 8, 8)
    clip = np.arange(256, dtype=np.uint8).reshape(shape)
    good = json.dumps({"clips": [encode_clip(clip)] * 2}).encode()
    check_clip_batch(good, shape, max_clips=2)
    assert np.array_equal(decode_clips([encode_clip(clip)], shape)[0], clip)
    bad = {
        b"not json": "not JSON",
        b'{"clips": []}': "no clips",
        json.dumps({"clips": [encode_clip(clip)] * 3}).encode(): "3 clips in one request",
        json.dumps({"clips": [encode_clip(clip[:2])]}).encode(): "clip 0 has 128 bytes",
    }
    for body, message in bad.items():
        with pytest.raises(BadInput, match=message):
            check_clip_batch(body, shape, max_clips=2)


def test_error_bodies_become_one_sentence() -> None:
    assert error_sentence(b'[{"error": "bad video"}]', 400) == "bad video"  # BentoML's list body
    detail = {"error": "1 validation error", "detail": [{"loc": ["body", "video"], "type": "missing"}]}
    assert error_sentence(json.dumps(detail).encode(), 400) == "the request lacks the field 'video'"
    assert error_sentence(b"Method Not Allowed", 405) == "Method Not Allowed"
    assert error_sentence(b"", 404) == "Not Found"
