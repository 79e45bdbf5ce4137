"""ComfyUI's HTTP API, one method per endpoint the executor uses (see shared/comfyui-protocol/).

Every network failure or 5xx surfaces as :class:`ComfyUnavailable`; a rejected prompt as
:class:`ValidationFailed`; an answer that is not JSON, or not of the shape ComfyUI sends, as :class:`BadResponse`.
Requests go through :mod:`executor.http11` (a fraction of httpx's CPU per request); ``sent`` counts them.
"""

from __future__ import annotations

import collections
import mimetypes
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from executor.errors import BadResponse, ComfyUnavailable, InvalidInput, validation_error
from executor.http11 import Http11Client, HTTPError, Response
from executor.multipart import upload_form

T = TypeVar("T")
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_JSON = {"Content-Type": "application/json"}


class _Uploaded(msgspec.Struct, frozen=True):
    name: str
    subfolder: str = ""


class _Queued(msgspec.Struct, frozen=True):
    prompt_id: str
    number: int = 0
    node_errors: dict[str, Any] | None = None


class _Queue(msgspec.Struct, frozen=True):
    queue_running: list[list[Any]] = []
    queue_pending: list[list[Any]] = []


def bad_response(method: str, path: str, response: Response, problem: str) -> BadResponse:
    """The error of an answer ComfyUI never gives, with enough of it to recognise what answered."""
    excerpt = response.content[:160].decode("utf-8", errors="replace")
    return BadResponse(f"{method} {path}: ComfyUI answered HTTP {response.status_code} with {problem} "
                       f"({response.headers.get('content-type', 'no content type')}, {len(response.content)} "
                       f"bytes): {excerpt!r}", endpoint=f"{method} {path}", status_code=response.status_code)


def parse_answer(method: str, path: str, response: Response, kind: type[T]) -> T:
    """The JSON body as ``kind``; BadResponse when it is not JSON or not of that shape."""
    try:
        return msgspec.json.decode(response.content, type=kind)
    except msgspec.ValidationError as exc:
        raise bad_response(method, path, response, f"JSON of another shape ({exc})") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise bad_response(method, path, response, "a body that is not JSON") from None


class Accepted(msgspec.Struct, frozen=True):
    """A 200 answer to POST /prompt; ``node_errors`` set: part of the workflow was dropped (trace 21)."""

    prompt_id: str
    number: int
    node_errors: dict[str, Any]


class QueueState(msgspec.Struct, frozen=True):
    running: list[str]
    pending: list[str]
    client_ids: dict[str, str | None]  # prompt id -> client_id from extra_data


class ViewFile(msgspec.Struct, frozen=True):
    data: bytes
    content_type: str


class ComfyClient:
    """Requests to one ComfyUI base URL."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = Http11Client(self.base_url, timeout_s=timeout_s)
        self.sent: collections.Counter[str] = collections.Counter()  # "POST /prompt" -> requests sent

    async def close(self) -> None:
        await self.http.close()

    async def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
                       content: bytes | Sequence[bytes] = b"", headers: dict[str, str] | None = None) -> Response:
        if json is not None:
            content, headers = _encode(json), _JSON
        self.sent[f"{method} {'/history/{prompt_id}' if path.startswith('/history/') else path}"] += 1
        try:
            response = await self.http.request(method, path, params=params, content=content, headers=headers)
        except HTTPError as exc:  # connection refused/reset, timeouts, protocol errors
            raise ComfyUnavailable(f"{method} {path}: {exc}") from exc
        if response.status_code >= 500 and path != "/prompt":
            raise ComfyUnavailable(f"{method} {path}: HTTP {response.status_code}")
        return response

    async def _json(self, method: str, path: str, kind: type[T], **kwargs: Any) -> T:
        response = await self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise ComfyUnavailable(f"{method} {path}: HTTP {response.status_code}")
        return parse_answer(method, path, response, kind)

    async def system_stats(self) -> dict[str, Any]:
        return await self._json("GET", "/system_stats", dict[str, Any])

    async def object_info(self) -> Any:
        """Every installed node class with its inputs (a few MB with custom nodes; read once per start)."""
        return await self._json("GET", "/object_info", dict[str, Any])

    async def upload_image(self, data: bytes, name: str, subfolder: str) -> str:
        """Upload to the input folder (overwrite); returns the name LoadImage uses: ``subfolder/name``."""
        content, headers = upload_form(data, name, subfolder)
        response = await self._request("POST", "/upload/image", content=content, headers=headers)
        if response.status_code == 400:  # the name or subfolder (trace 38): the same on every retry
            raise InvalidInput(f"ComfyUI refused the upload of input {name!r} (HTTP 400)", name=name)
        if response.status_code != 200:
            raise ComfyUnavailable(f"POST /upload/image {name}: HTTP {response.status_code}")
        body = parse_answer("POST", "/upload/image", response, _Uploaded)
        return f"{body.subfolder}/{body.name}" if body.subfolder else body.name

    async def queue_prompt(self, workflow: dict[str, Any], *, client_id: str, prompt_id: str,
                           extra_data: dict[str, Any] | None = None) -> Accepted:
        """POST /prompt; raises ValidationFailed for a 400 (and the text/plain 500 of trace 22)."""
        body: dict[str, Any] = {"prompt": workflow, "client_id": client_id, "prompt_id": prompt_id}
        if extra_data:
            body["extra_data"] = extra_data
        response = await self._request("POST", "/prompt", json=body)  # msgspec: ~8x less CPU than stdlib json
        if response.status_code == 200:
            answer = parse_answer("POST", "/prompt", response, _Queued)
            return Accepted(prompt_id=answer.prompt_id, number=answer.number, node_errors=answer.node_errors or {})
        if response.status_code == 400 or response.headers.get("content-type", "").startswith("text/plain"):
            try:
                parsed: Any = _decode(response.content)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                parsed = response.text
            raise validation_error(response.status_code, parsed)
        raise ComfyUnavailable(f"POST /prompt: HTTP {response.status_code}")

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of a prompt; None while it has none (queued, running, deleted or forgotten)."""
        body = await self._json("GET", f"/history/{prompt_id}", dict[str, dict[str, Any]])
        return body.get(prompt_id)

    async def queue(self) -> QueueState:
        response = await self._request("GET", "/queue")
        if response.status_code != 200:
            raise ComfyUnavailable(f"GET /queue: HTTP {response.status_code}")
        body = parse_answer("GET", "/queue", response, _Queue)
        items = body.queue_running + body.queue_pending
        if any(len(item) < 2 for item in items):
            raise bad_response("GET", "/queue", response, "queue items without a prompt id")

        def ids(items: list[list[Any]]) -> list[str]:
            return [str(item[1]) for item in items]

        def client_id(item: list[Any]) -> str | None:
            extra = item[3] if len(item) > 3 and isinstance(item[3], dict) else {}
            value = extra.get("client_id")
            return value if isinstance(value, str) else None

        client_ids = {str(item[1]): client_id(item) for item in items}
        return QueueState(running=ids(body.queue_running), pending=ids(body.queue_pending), client_ids=client_ids)

    async def interrupt(self, prompt_id: str) -> None:
        """Interrupt this prompt if it is the one running (a no-op otherwise, trace 28)."""
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        """Remove prompts that have not started (a running prompt is left alone, trace 30)."""
        await self._request("POST", "/queue", json={"delete": prompt_ids})

    async def free_cache(self) -> None:
        """Reset ComfyUI's execution cache (it also unloads models) before its next prompt (trace 43)."""
        await self._request("POST", "/free", json={"free_memory": True})

    async def free_memory(self) -> None:
        """Unload every model and free ComfyUI's memory (its caches too) before its next prompt: after an
        out-of-memory error (server.py answers 200 with an empty body; the prompt worker acts on the flags)."""
        await self._request("POST", "/free", json={"unload_models": True, "free_memory": True})

    async def view(self, filename: str, subfolder: str, kind: str) -> ViewFile | None:
        """The bytes of an output file; None on 404 (e.g. a cached output whose file was deleted)."""
        response = await self._request("GET", "/view",
                                       params={"filename": filename, "subfolder": subfolder, "type": kind})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ComfyUnavailable(f"GET /view {subfolder}/{filename}: HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return ViewFile(data=response.content, content_type=content_type)
