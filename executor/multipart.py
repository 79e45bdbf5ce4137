"""The form ``POST /upload/image`` takes, byte for byte as httpx encoded it before, without httpx.

The file's bytes are never copied into the body: the form is a list of parts (its head, the file, its tail)
that the HTTP client writes one after another (``executor.http11``). Names are escaped as httpx (and browsers,
per HTML5) do: ``"`` as ``%22``, ``\\`` doubled, control characters but ESC as ``%XX``; the input name checks
(executor/inputs.py) count on ``"`` taking three bytes.
"""

from __future__ import annotations

import mimetypes
import os
import re

_ESCAPES = {'"': "%22", "\\": "\\\\", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}}
_ESCAPE = re.compile("|".join(re.escape(c) for c in _ESCAPES))


def form_param(name: str, value: str) -> bytes:
    """``name="value"`` for a Content-Disposition header."""
    return f'{name}="{_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], value)}"'.encode()


def upload_form(data: bytes, name: str, subfolder: str,
                boundary: bytes | None = None) -> tuple[list[bytes], dict[str, str]]:
    """The parts of the form (``data`` itself among them, not copied) and its Content-Type header."""
    boundary = boundary or os.urandom(16).hex().encode("ascii")
    fields = (("subfolder", subfolder), ("type", "input"), ("overwrite", "true"))
    head = b"".join(b"--%s\r\nContent-Disposition: form-data; %s\r\n\r\n%s\r\n"
                    % (boundary, form_param("name", key), value.encode()) for key, value in fields)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    head += (b"--%s\r\nContent-Disposition: form-data; %s; %s\r\nContent-Type: %s\r\n\r\n"
             % (boundary, form_param("name", "image"), form_param("filename", name), content_type.encode()))
    tail = b"\r\n--%s--\r\n" % boundary
    return [head, data, tail], {"Content-Type": f"multipart/form-data; boundary={boundary.decode('ascii')}"}
