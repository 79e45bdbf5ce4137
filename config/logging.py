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


def _serialize(event: dict[str, Any], **_: Any) -> bytes:
    return _encoder.encode(event)


class _StdlibBridge(logging.Handler):
    """Routes records of the standard ``logging`` module (uvicorn, httpx, botocore, runpod) into structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
            if record.exc_info:
                fields["exception"] = logging.Formatter().formatException(record.exc_info)
            structlog.get_logger().log(record.levelno, "library_log", **fields)
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


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context) if context else structlog.get_logger()
