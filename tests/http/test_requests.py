"""The transport-neutral pieces the RunPod transport reuses: request parsing, image checks, rendering."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store import Job, JobStatus
from tests.http.conftest import PNG, WORKFLOW, b64
from transports.errors import InvalidRequest
from transports.images import image_format
from transports.render import render_result, render_status
from transports.requests import JobRequest, parse

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(value=json_values | st.fixed_dictionaries({"workflow": json_values}, optional={"images": json_values}))
@settings(max_examples=300, deadline=None)
def test_any_json_is_a_job_request_or_an_invalid_request(value: Any) -> None:
    for raw in (value, json.dumps(value)):
        try:
            assert isinstance(parse(raw, max_images=2), JobRequest)
        except InvalidRequest as exc:
            assert exc.detail


def test_parse_takes_runpod_input_as_a_decoded_object() -> None:
    request = parse({"workflow": WORKFLOW, "images": [{"name": "in.png", "image": b64()}],
                     "comfy_org_api_key": "ck"}, max_images=1)
    assert request.images[0].data == PNG and request.options == {"comfy_org_api_key": "ck"}


def test_parse_names_the_bad_field_of_a_runpod_input() -> None:
    with pytest.raises(InvalidRequest, match=r"\$\.images"):
        parse({"workflow": WORKFLOW, "images": "x"}, max_images=1)


@pytest.mark.parametrize(("data", "fmt"), [
    (PNG, "png"), (b"\xff\xd8\xff\xdb", "jpeg"), (b"GIF87a..", "gif"), (b"RIFF\x00\x00\x00\x00WEBP", "webp"),
    (b"RIFF\x00\x00\x00\x00WAVE", None), (b"<svg>", None), (b"", None)])
def test_image_format_by_magic_bytes(data: bytes, fmt: str | None) -> None:
    assert image_format(data) == fmt


def _job(**fields: Any) -> Job:
    base: dict[str, Any] = dict(id="j", status=JobStatus.PENDING, priority=0, request={"workflow": WORKFLOW},
                                result=None, error=None, created_at=1.0, started_at=None, completed_at=None,
                                attempts=0, max_attempts=3, timeout_s=None, worker_id=None, heartbeat_at=None,
                                progress=None, cancel_requested=False)
    return Job(**{**base, **fields})


def test_render_adds_base64_data_only_to_stored_entries() -> None:
    result = {"images": [{"type": "base64", "output_index": 0}, {"type": "s3_url", "data": "https://x"}],
              "text": [{"node_id": "7", "text": "hi"}]}
    rendered = render_result(result, {0: b"ab"})
    assert rendered == {"images": [{"type": "base64", "output_index": 0, "data": "YWI="},
                                   {"type": "s3_url", "data": "https://x"}],
                        "text": [{"node_id": "7", "text": "hi"}]}
    assert render_result(result, None) is result


def test_render_status_keeps_the_seed_nulls_and_omits_unset_extras() -> None:
    import msgspec

    body = msgspec.json.decode(msgspec.json.encode(render_status(_job(), queue_position=None)))
    assert body == {"job_id": "j", "status": "pending", "result": None, "error": None, "created_at": 1.0,
                    "started_at": None, "completed_at": None, "attempts": 0}


def test_canonical_base64_never_takes_the_stdlibs_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs decode and outputs encode through pybase64 (~45 us for 1 MB, against ~2 ms); the stdlib's
    decoder is only the fallback for what pybase64 refuses (line-wrapped, unpadded or over-padded text)."""
    import base64

    from transports.images import decode_image

    real_decode, text = base64.b64decode, b64()

    def refused(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("the stdlib's base64 is on the common path")

    monkeypatch.setattr(base64, "b64decode", refused)
    monkeypatch.setattr(base64, "b64encode", refused)
    assert decode_image("in.png", text) == PNG
    assert decode_image("in.png", "data:image/png;base64," + text) == PNG
    assert render_result({"images": [{"type": "base64", "output_index": 0}]}, {0: PNG}) == {
        "images": [{"type": "base64", "output_index": 0, "data": text}]}
    monkeypatch.setattr(base64, "b64decode", real_decode)
    for odd in ("\n".join(text[i:i + 76] for i in range(0, len(text), 76)), text.rstrip("="), text + "=="):
        assert decode_image("in.png", odd) == real_decode(odd + "=" * (-len(odd) % 4), validate=False), odd[-8:]
    with pytest.raises(InvalidRequest, match="not valid base64"):
        decode_image("in.png", text[:-4] + "!!!!")
