"""One call configures structlog for a process: JSON lines on stdout, stdlib records included."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import msgspec
import structlog
from structlog.typing import EventDict

_encoder = msgspec.json.Encoder(enc_hook=repr)  # anything msgspec can't encode is logged as its repr

MAX_LINE_BYTES = 16 * 1024  # Docker's json-file driver splits longer lines into partial messages
_VALUE_BYTES = MAX_LINE_BYTES // 8  # a long value is cut to about this much, head and tail kept
_IDENTITY = ("timestamp", "level", "event", "process", "pid", "job_id", "instance")


def _cut(value: Any, limit: int) -> Any:
    """``value``, or when its JSON is longer than ``limit`` bytes, its head and tail around a marker."""
    encoded = _encoder.encode(value)
    if len(encoded) <= limit:
        return value
    text = value if isinstance(value, str) else encoded.decode("utf-8", errors="replace")
    keep = max(limit // 2 - 32, 8)
    return f"{text[:keep]}...[truncated {len(text) - 2 * keep} of {len(text)} chars]...{text[-keep:]}"


def encode_line(event: dict[str, Any]) -> bytes:
    """One JSON log line of at most MAX_LINE_BYTES: long values cut (a marker says how much), and
    ``"truncated": true``; if that is not enough, only the identifying fields are kept."""
    line = _encoder.encode(event)
    if len(line) <= MAX_LINE_BYTES:
        return line
    cut = {key: _cut(value, _VALUE_BYTES) for key, value in event.items()}
    cut["truncated"] = True
    line = _encoder.encode(cut)
    if len(line) <= MAX_LINE_BYTES:
        return line
    kept = {key: _cut(event[key], 256) for key in _IDENTITY if key in event}
    return _encoder.encode({**kept, "truncated": True, "fields_dropped": len(event) - len(kept)})


def _serialize(event: dict[str, Any], **_: Any) -> bytes:
    return encode_line(event)


# libraries that log every request at INFO: those records are DEBUG lines here (off at the default INFO)
PER_REQUEST_LOGGERS = ("httpx",)


class _StdlibBridge(logging.Handler):
    """Routes records of the standard ``logging`` module (uvicorn, httpx, botocore, runpod) into structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
            if record.exc_info:
                fields["exception"] = logging.Formatter().formatException(record.exc_info)
            level = record.levelno
            if level == logging.INFO and record.name.split(".", 1)[0] in PER_REQUEST_LOGGERS:
                level = logging.DEBUG
            structlog.get_logger().log(level, "library_log", **fields)
        except Exception:  # a log call must never break the caller
            self.handleError(record)


def configure(process: str, level: str = "INFO", **static: Any) -> None:
    """Configure structlog (and the stdlib root logger) for this process; `process` is its role."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    pid = os.getpid()

    def add_static(_: Any, __: str, event: EventDict) -> EventDict:
        event["process"] = process
        event["pid"] = pid
        for key, value in static.items():
            event.setdefault(key, value)
        return event

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_static,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_serialize),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_StdlibBridge())
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", "websockets", "botocore",
                 "boto3", "urllib3", "runpod", "asyncio"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    # chatty libraries stay at INFO even when the daemon logs DEBUG
    for name in ("httpcore", "botocore", "urllib3", "websockets.client", "hpack"):
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    # their INFO records become DEBUG lines: below DEBUG, not even made (a record per request costs CPU)
    for name in PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context) if context else structlog.get_logger()
