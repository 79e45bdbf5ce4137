"""executor.multipart: the upload form is byte for byte what httpx encoded (names escaped alike), in parts that
keep the file's bytes uncopied."""

from __future__ import annotations

import httpx
import pytest

from executor.multipart import upload_form

NAMES = ["in.png", 'a"b.png', "back\\slash.png", "tab\there.jpg", "esc\x1bkept.png", "é ü 中.webp", "noext",
         "x" * 200 + ".gif", "del\x7f.png", "semi;colon=eq.png"]


def httpx_form(data: bytes, name: str, subfolder: str, boundary: bytes) -> tuple[bytes, str]:
    import mimetypes

    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    request = httpx.Request("POST", "http://comfyui/upload/image", files={"image": (name, data, content_type)},
                            data={"subfolder": subfolder, "type": "input", "overwrite": "true"})
    body = request.read()
    return body.replace(request.headers["content-type"].split("boundary=")[1].encode(), boundary), \
        request.headers["content-type"]


@pytest.mark.parametrize("name", NAMES)
def test_the_form_is_what_httpx_sent(name: str) -> None:
    data = bytes(range(256)) * 40
    boundary = b"0123456789abcdef0123456789abcdef"
    parts, headers = upload_form(data, name, "jobs/1234", boundary)
    expected, _ = httpx_form(data, name, "jobs/1234", boundary)
    assert b"".join(parts) == expected
    assert headers == {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}


def test_the_file_is_one_of_the_parts_not_a_copy() -> None:
    data = b"\x89PNG" + bytes(100_000)
    parts, headers = upload_form(data, "in.png", "jobs/x")
    assert any(part is data for part in parts)
    boundary = headers["Content-Type"].split("boundary=")[1]
    assert len(boundary) == 32 and parts[-1] == f"\r\n--{boundary}--\r\n".encode()
    assert upload_form(data, "in.png", "jobs/x")[1] != headers  # a fresh boundary each time
