"""What the API answers, as the client reads it: a job's status, its progress and its outputs."""

from __future__ import annotations

from typing import Any

import msgspec

TERMINAL = frozenset({"completed", "failed", "cancelled"})
OUTPUT_KINDS = ("images", "videos", "audio", "files")


class Progress(msgspec.Struct, frozen=True):
    """Steps done of the node ComfyUI is running (``value``/``max``)."""

    value: int = 0
    max: int = 0
    node: str | None = None
    node_type: str | None = None


class Output(msgspec.Struct, frozen=True):
    """One output of a finished job: stored bytes (``index``), inline base64 (``data``) or an S3 URL."""

    kind: str
    filename: str
    type: str
    index: int | None = None
    data: str | None = None
    node_id: str | None = None
    content_type: str | None = None


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """A job as ``GET /status/{job_id}`` shows it; unknown fields are ignored."""

    job_id: str
    status: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    attempts: int = 0
    progress: Progress | None = None
    queue_position: int | None = None
    cancel_requested: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def outputs(self) -> list[Output]:
        """Every file output of the result (images, videos, audio, files), in order."""
        found: list[Output] = []
        for kind in OUTPUT_KINDS:
            for entry in (self.result or {}).get(kind) or []:
                if isinstance(entry, dict) and entry.get("filename"):
                    found.append(Output(kind=kind, filename=str(entry["filename"]),
                                        type=str(entry.get("type", "base64")),
                                        index=entry.get("output_index"), data=entry.get("data"),
                                        node_id=entry.get("node_id"),
                                        content_type=entry.get("content_type")))
        return found

    def error_message(self) -> str:
        if self.error:
            return str(self.error.get("message") or self.error)
        return self.status


def status_from(body: Any) -> Status:
    return msgspec.convert(body, Status)
