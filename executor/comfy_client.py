"""ComfyUI's HTTP API, one method per endpoint the executor uses (see shared/comfyui-protocol/).

Every network failure or 5xx surfaces as :class:`ComfyUnavailable`; a rejected prompt as
:class:`ValidationFailed`.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import httpx
import msgspec

from executor.errors import ComfyUnavailable, validation_error

_decode = msgspec.json.Decoder().decode


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
    """An httpx.AsyncClient bound to one ComfyUI base URL."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s,
                                      limits=httpx.Limits(max_keepalive_connections=8))

    async def close(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:  # connection refused/reset, timeouts, protocol errors
            raise ComfyUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 and path != "/prompt":
            raise ComfyUnavailable(f"{method} {path}: HTTP {response.status_code}")
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise ComfyUnavailable(f"{method} {path}: HTTP {response.status_code}")
        return _decode(response.content) if response.content else None

    async def system_stats(self) -> dict[str, Any]:
        return await self._json("GET", "/system_stats")  # type: ignore[no-any-return]

    async def object_info(self) -> Any:
        """Every installed node class with its inputs (a few MB with custom nodes; read once per start)."""
        return await self._json("GET", "/object_info")

    async def upload_image(self, data: bytes, name: str, subfolder: str) -> str:
        """Upload to the input folder (overwrite); returns the name LoadImage uses: ``subfolder/name``."""
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = await self._request(
            "POST", "/upload/image", files={"image": (name, data, content_type)},
            data={"subfolder": subfolder, "type": "input", "overwrite": "true"})
        if response.status_code != 200:
            raise ComfyUnavailable(f"POST /upload/image {name}: HTTP {response.status_code}")
        body = _decode(response.content)
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else str(body["name"])

    async def queue_prompt(self, workflow: dict[str, Any], *, client_id: str, prompt_id: str,
                           extra_data: dict[str, Any] | None = None) -> Accepted:
        """POST /prompt; raises ValidationFailed for a 400 (and the text/plain 500 of trace 22)."""
        body: dict[str, Any] = {"prompt": workflow, "client_id": client_id, "prompt_id": prompt_id}
        if extra_data:
            body["extra_data"] = extra_data
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 200:
            answer = _decode(response.content)
            return Accepted(prompt_id=answer["prompt_id"], number=answer.get("number", 0),
                            node_errors=answer.get("node_errors") or {})
        if response.status_code == 400 or response.headers.get("content-type", "").startswith("text/plain"):
            try:
                parsed: Any = _decode(response.content)
            except msgspec.DecodeError:
                parsed = response.text
            raise validation_error(response.status_code, parsed)
        raise ComfyUnavailable(f"POST /prompt: HTTP {response.status_code}")

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of a prompt; None while it has none (queued, running, deleted or forgotten)."""
        body = await self._json("GET", f"/history/{prompt_id}")
        return (body or {}).get(prompt_id)

    async def queue(self) -> QueueState:
        body = await self._json("GET", "/queue")

        def ids(items: list[Any]) -> list[str]:
            return [str(item[1]) for item in items]

        running, pending = body.get("queue_running", []), body.get("queue_pending", [])
        client_ids = {str(i[1]): (i[3] or {}).get("client_id") if len(i) > 3 else None
                      for i in running + pending}
        return QueueState(running=ids(running), pending=ids(pending), client_ids=client_ids)

    async def interrupt(self, prompt_id: str) -> None:
        """Interrupt this prompt if it is the one running (a no-op otherwise, trace 28)."""
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        """Remove prompts that have not started (a running prompt is left alone, trace 30)."""
        await self._request("POST", "/queue", json={"delete": prompt_ids})

    async def free_cache(self) -> None:
        """Reset ComfyUI's execution cache (it also unloads models) before its next prompt (trace 43)."""
        await self._request("POST", "/free", json={"free_memory": True})

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
