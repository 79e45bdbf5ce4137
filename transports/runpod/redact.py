"""No job payload in the logs: what the runpod SDK logs is cut before its input, output or result.

At its default DEBUG level the SDK logs each job as it arrives (``Retrieved local job: {...}``), its
handler's output (``Handler output: {...}``, ``run_job return: {...}``), test-input results at INFO
(``Job result: {...}``) and progress updates: up to 4 KB per line of workflow JSON and base64 images. Such a
message keeps its words up to the payload and says how much was left out. As a safety net for messages not
known here, any dict or list in a message, and any long base64 run, is left out too.
"""

from __future__ import annotations

import re

# "<words>: <payload>" messages of runpod 1.x (rp_job, rp_local, rp_progress, rp_fastapi)
_PAYLOAD_AFTER = re.compile(
    r"(Handler output|run_job return|Stream output|(?:Async )?Generator output|Retrieved local job|Job result"
    r"|Response content is not valid JSON\.|Sending Progress Update|Progress Update Sent)[:.]?\s")
_STRUCTURE = re.compile(r"\{|\[(?=[\[{'\"])")  # a dict or list of them/strings: a job, an output, an error dump
_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]{64,}")  # bytes printed in a form our own logs never use


def _omitted(kept: str, rest: str) -> str:
    return f"{kept}[{len(rest)} characters left out]"


def redact(message: str) -> str:
    """``message`` without any job payload (a message carrying none is returned unchanged)."""
    known = _PAYLOAD_AFTER.search(message)
    if known:
        return _omitted(message[:known.end()], message[known.end():])
    structure = _STRUCTURE.search(message)
    if structure:
        message = _omitted(message[:structure.start()], message[structure.start():])
    return _BASE64.sub(lambda m: f"[{len(m.group())} characters left out]", message)
