"""What can go wrong while running a job, as exceptions that carry the job's structured error.

A :class:`JobFailed` ends the job (``failed``, never retried); a :class:`ComfyUnavailable` puts it back in the
queue while attempts remain, and so does an :class:`InputUnavailable`. A :class:`BadResponse` (ComfyUI
answering garbage) is a JobFailed: the same garbage would come back on every retry. ``to_error()`` gives the
JSON stored in ``jobs.error`` (docs/internals.md).
"""

from __future__ import annotations

from typing import Any


class ExecutorError(Exception):
    """The executor could not run a job."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)

    @property
    def message(self) -> str:
        return str(self)


class ComfyUnavailable(ExecutorError):
    """ComfyUI is unreachable, or restarted and forgot the prompt."""


class InputUnavailable(ExecutorError):
    """An input given by reference could not be fetched this time (a timeout, a 5xx): the job is retried while
    attempts remain (what it fetched already is kept)."""

    kind = "input_unavailable"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    def to_error(self) -> dict[str, Any]:
        return {"type": self.kind, "message": self.message, **self.details}


class ComfySilent(ComfyUnavailable):
    """ComfyUI did not answer within INTERRUPT_GRACE_S while a job was in it: the watchdog restarts it."""


class JobFailed(ExecutorError):
    """The job failed for a reason a retry cannot fix."""

    kind = "execution"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    def to_error(self) -> dict[str, Any]:
        return {"type": self.kind, "message": self.message, **self.details}


class InvalidInput(JobFailed):
    """An input image cannot be used."""

    kind = "invalid_input"


class BadResponse(JobFailed):
    """ComfyUI answered with a body its API never sends (not JSON, or JSON of the wrong shape)."""

    kind = "comfyui_bad_response"


class ValidationFailed(JobFailed):
    """ComfyUI rejected the workflow."""

    kind = "validation"


class ExecutionFailed(JobFailed):
    """A node raised while ComfyUI ran the workflow."""

    kind = "execution"


class TimedOut(JobFailed):
    """The job ran past its deadline and was interrupted."""

    kind = "timeout"


def validation_error(status: int, body: Any) -> ValidationFailed:
    """The structured error of a rejected POST /prompt (a 400 body, or a 200 still carrying node_errors)."""
    if not isinstance(body, dict):
        return ValidationFailed(f"ComfyUI rejected the prompt (HTTP {status})", comfyui_type="http_error",
                                details=str(body)[:500], node_errors=[])
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    node_errors = _node_errors(body.get("node_errors") or {})
    message = error.get("message") or ("Prompt outputs failed validation" if node_errors else "bad prompt")
    return ValidationFailed(str(message), comfyui_type=error.get("type", "prompt_outputs_failed_validation"),
                            details=error.get("details", ""), node_errors=node_errors)


def _node_errors(raw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for node_id, entry in (raw.items() if isinstance(raw, dict) else ()):
        if not isinstance(entry, dict):
            continue
        listed = entry.get("errors")
        errors = [{key: e.get(key, "") for key in ("type", "message", "details")}
                  for e in (listed if isinstance(listed, list) else []) if isinstance(e, dict)]
        out.append({"node_id": str(node_id), "class_type": entry.get("class_type"), "errors": errors})
    return out


def execution_error(data: dict[str, Any]) -> ExecutionFailed:
    """The structured error of an ``execution_error`` message (also found in history's status messages)."""
    exc_type = data.get("exception_type", "")
    exc_message = str(data.get("exception_message", "")).strip()
    node_type = data.get("node_type")
    return ExecutionFailed(
        f"{node_type or 'node'} {data.get('node_id')} failed: {exc_type}: {exc_message}",
        node_id=str(data.get("node_id")) if data.get("node_id") is not None else None,
        node_type=node_type, exception_type=exc_type, exception_message=exc_message,
    )
