"""Request bodies checked before BentoML parses them: the multipart upload of /predict and /embed, and the
JSON clip batch of /encode_clips. Each check raises BadInput with one sentence, or returns the body to
forward.

Why the upload form is re-encoded: BentoML's form decoder runs `json.loads` on every text field, so a
study id "12345" sent by curl would arrive as a number and "1e5" as 100000.0. Each text field is read as
the client meant it (`field_text`) and re-sent JSON-encoded, which that decoding turns back into the exact
string. The file part is forwarded byte for byte
(under a neutral name: the client's file name may hold a patient's name); a text value in the file field,
which BentoML would treat as a URL to download, is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from serving.clips import decode_clips
from serving.errors import BadInput

VIDEO_FIELD = "video"
HOW_TO_UPLOAD = "upload the video as the multipart form field 'video' (curl -F video=@study.avi)"
MAX_TEXT_PART = 4096  # bytes of one text field


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def normalize_upload(headers: Headers, body: bytes, fields: tuple[str, ...]) -> tuple[bytes, str]:
    """Check a multipart upload (one file in `video`, optional text `fields`); return the re-encoded body
    and its content type."""
    content_type = headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadInput(f"no video in the request: {HOW_TO_UPLOAD}", 400, "no_video")
    try:
        parser = MultiPartParser(
            headers, _once(body), max_files=2, max_fields=16, max_part_size=MAX_TEXT_PART
        )
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadInput(
            f"the multipart body cannot be parsed ({exc.message}); {HOW_TO_UPLOAD}", 400, "bad_form"
        ) from None
    try:
        items = form.multi_items()
        names = [name for name, _ in items]
        unknown = sorted(set(names) - {VIDEO_FIELD, *fields})
        if unknown:
            expected = ", ".join((VIDEO_FIELD, *fields))
            raise BadInput(f"unknown form field '{unknown[0]}'; the fields are {expected}", 400, "bad_form")
        if names.count(VIDEO_FIELD) != 1:
            problem = "no video in the request" if VIDEO_FIELD not in names else "one video per request"
            raise BadInput(f"{problem}: {HOW_TO_UPLOAD}", 400, "no_video")
        boundary = f"echojepa-{uuid.uuid4().hex}"
        parts = []
        for name, value in items:
            if name == VIDEO_FIELD:
                if not isinstance(value, UploadFile):
                    raise BadInput(
                        f"the field 'video' holds text, not a file: {HOW_TO_UPLOAD}", 400, "no_video"
                    )
                data = await value.read()
                head = f'name="{name}"; filename="upload"\r\nContent-Type: application/octet-stream'
            else:
                if not isinstance(value, str):
                    raise BadInput(f"the field '{name}' must be text, not a file", 400, "bad_form")
                data, head = json.dumps(field_text(value)).encode(), f'name="{name}"'
            parts.append(
                f"--{boundary}\r\nContent-Disposition: form-data; {head}\r\n\r\n".encode() + data + b"\r\n"
            )
    finally:
        await form.close()
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def field_text(raw: str) -> str:
    """A text field's value as the client meant it: BentoML's own client sends JSON-encoded strings
    ('"abc"'), curl sends raw text ('abc', '12345'); a JSON string is unwrapped, anything else kept as is."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, ValueError):
        return raw
    return value if isinstance(value, str) else raw


def check_clip_batch(body: bytes, shape: tuple[int, int, int], max_clips: int) -> None:
    """A JSON body {"clips": [base64 uint8 clip, ...]} with 1..max_clips clips of the model's shape."""
    dims = "x".join(map(str, shape))
    usage = f'send {{"clips": [...]}} with 1 to {max_clips} base64 uint8 {dims} clips'
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadInput(f"the body is not JSON; {usage}", 400, "bad_clips") from None
    clips = payload.get("clips") if isinstance(payload, dict) else None
    if not isinstance(clips, list) or not clips or not all(isinstance(c, str) for c in clips):
        raise BadInput(f"no clips in the request; {usage}", 400, "bad_clips")
    if len(clips) > max_clips:
        raise BadInput(f"{len(clips)} clips in one request; {usage}", 413, "bad_clips")
    try:
        decode_clips(clips, shape)
    except ValueError as exc:
        raise BadInput(f"{exc}; {usage}", 400, "bad_clips") from None
