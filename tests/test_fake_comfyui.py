"""The fake ComfyUI against the recorded traces of a real ComfyUI 0.3.64 (tests/fake_comfyui/data/traces).

Each scenario is replayed against the fake over real sockets; the fake's frames, HTTP bodies and history
are normalised (ids, timestamps, tracebacks, file counters, directories) and compared with the recording.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fake_comfyui import FakeComfyUI

TRACES = Path(__file__).parent / "fake_comfyui" / "data" / "traces"
MAIN = Path(__file__).parent / "fake_comfyui" / "main.py"
BROKEN_PNG = b"this is not a png file"  # 22 bytes, like trace 23's upload


def trace(name: str) -> dict:
    return json.loads(next(TRACES.glob(f"{name}_*.json")).read_text())


# --- normalisation --------------------------------------------------------------------------------

_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$")
_COUNTER = re.compile(r"_\d{5}_\.")
_TEMP = re.compile(r"ComfyUI_temp_[a-z]{5}")


def norm(value: Any, dirs: dict[str, str] | None = None, key: str | None = None) -> Any:
    if key in ("timestamp", "traceback"):
        return f"<{key}>"
    if key == "number":
        return "<number>"
    if isinstance(value, dict):
        return {("<id>" if _ID.match(k) else k): norm(v, dirs, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if key == "prompt" and len(value) == 5 and isinstance(value[0], int | float):
            return ["<number>", *(norm(v, dirs) for v in value[1:])]
        return [norm(v, dirs) for v in value]
    if isinstance(value, str):
        if _ID.match(value):
            return "<id>"
        for real, placeholder in (dirs or {}).items():
            value = value.replace(real, placeholder)
        return _TEMP.sub("ComfyUI_temp_X", _COUNTER.sub("_N_.", value))
    return value


def recorded_frames(messages: list[dict]) -> list[Any]:
    return [m["data"] if m["kind"] == "text" else {"binary": m["event_type"], "node_id": m["node_id"],
                                                    "text": m["text"]} for m in messages]


def types(frames: list[Any]) -> list[str]:
    return [f.get("type", "binary") for f in frames]


def collapse_progress(frames: list[Any]) -> list[Any]:
    """Runs of (progress_state, progress) ticks become one marker: their count depends on timing."""
    out: list[Any] = []
    for frame in frames:
        is_tick = frame.get("type") == "progress" or (
            frame.get("type") == "progress_state"
            and any(n["state"] == "running" and n["max"] != 1 for n in frame["data"]["nodes"].values()))
        if is_tick:
            if out and out[-1] == "<ticks>":
                continue
            frame = "<ticks>"
        out.append(frame)
    return out


# --- driving the fake -----------------------------------------------------------------------------


class Socket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Any] = []

    async def recv(self, timeout: float = 5.0) -> Any:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            event, length = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big")
            node, text = raw[8 : 8 + length].decode(), raw[8 + length :].decode()
            frame = {"binary": event, "node_id": node, "text": text}
        else:
            frame = json.loads(raw)
        self.frames.append(frame)
        return frame

    async def until(self, predicate: Any, timeout: float = 5.0) -> Any:
        while True:
            frame = await self.recv(timeout)
            if predicate(frame):
                return frame

    async def drain(self, idle: float = 0.05) -> None:
        try:
            while True:
                await self.recv(idle)
        except (TimeoutError, ConnectionClosed):
            pass


def is_done(prompt_id: str) -> Any:
    return lambda f: f.get("type") == "executing" and f["data"] == {"node": None, "prompt_id": prompt_id}


class Session:
    def __init__(self, fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
        self.fake, self.http = fake, http
        self.dirs = {str(fake.input_dir): "/data/comfyui/input", str(fake.output_dir): "/data/comfyui/output"}

    async def socket(self, client_id: str | None = None) -> Socket:
        url = self.fake.ws_url + (f"?clientId={client_id}" if client_id else "")
        sock = Socket(await connect(url, max_size=None))
        await sock.recv()
        return sock

    async def run(self, body: dict, path: str = "/prompt") -> dict:
        """POST like the trace did (with our own client_id) and follow it to the completion signal."""
        client_id = str(uuid.uuid4())
        sock, observer = await self.socket(client_id), await self.socket(str(uuid.uuid4()))
        body = {**body, "client_id": client_id} if "client_id" in body else body
        response = await self.http.post(path, json=body)
        result: dict[str, Any] = {"response": response, "body": response.json()}
        if response.status_code == 200 and "client_id" in body:
            prompt_id = response.json()["prompt_id"]
            await sock.until(is_done(prompt_id))
            result["history"] = (await self.http.get(f"/history/{prompt_id}")).json()
        await sock.drain()
        await observer.drain()
        await sock.ws.close()
        await observer.ws.close()
        return {**result, "frames": sock.frames, "observer": observer.frames}

    async def upload(self, name: str, data: bytes, **fields: str) -> httpx.Response:
        return await self.http.post("/upload/image", files={"image": (name, data, "image/png")}, data=fields)

    def assert_matches(self, got: Any, recorded: Any) -> None:
        assert norm(got, self.dirs) == norm(recorded)

    async def assert_scenario(self, recorded: dict, result: dict | None = None) -> dict:
        """Frames of the submitting and observing sockets, HTTP answer and history equal the recording."""
        result = result or await self.run(recorded["request"]["body"])
        self.assert_matches(result["body"], recorded["prompt_response"]["body"])
        assert result["response"].status_code == recorded["prompt_response"]["status"]
        self.assert_matches(result["frames"], recorded_frames(recorded["ws_messages"]))
        self.assert_matches(result["observer"], recorded_frames(recorded["observer_ws_messages"]))
        if recorded.get("history_at_completion"):
            self.assert_matches(result["history"], recorded["history_at_completion"]["body"])
        return result


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    async with FakeComfyUI(tmp_path) as fake, httpx.AsyncClient(base_url=fake.url, timeout=10) as http:
        yield Session(fake, http)


# --- successful runs ------------------------------------------------------------------------------


async def test_01_success_then_02_cached_rerun_then_03_partial_cache(session: Session) -> None:
    await session.assert_scenario(trace("01"))
    await session.assert_scenario(trace("02"))
    assert sorted(p.name for p in session.fake.output_dir.iterdir()) == trace("02")["output_dir_files_after"]
    await session.assert_scenario(trace("03"))


async def test_01_saved_file_is_a_real_png_served_by_view(session: Session) -> None:
    result = await session.run(trace("01")["request"]["body"])
    recorded = trace("01")["views"][0]
    response = await session.http.get(recorded["path"])
    assert response.status_code == recorded["status"]
    assert response.headers["content-type"] == recorded["content_type"]
    assert response.headers["content-disposition"] == recorded["content_disposition"]
    assert response.content[:8].hex() == recorded["magic_hex"]
    assert len(response.content) == recorded["content_length"]  # same encoder settings as ComfyUI
    assert result["history"]


@pytest.mark.parametrize("name", ["05", "08", "09", "21", "29", "37", "44"])
async def test_linear_scenarios(session: Session, name: str) -> None:
    recorded = trace(name)
    if name == "44":
        sock = await session.socket()
        sid = sock.frames[0]["data"]["sid"]
        assert re.fullmatch(r"[0-9a-f]{32}", sid)
        response = await session.http.post("/prompt", json={**recorded["post_response"]["request_body"],
                                                             "client_id": sid})
        await sock.until(is_done(response.json()["prompt_id"]))
        session.assert_matches(sock.frames, recorded_frames(recorded["ws_messages"]))
        return
    result = await session.run(recorded["request"]["body"], recorded["request"]["path"])
    await session.assert_scenario(recorded, result)
    await assert_views(session, result["history"], recorded["views"])


async def test_04_upload_loadimage_invert(session: Session) -> None:
    recorded = trace("04")
    png = _png(8, 8)
    upload = await session.upload("trace_input.png", png, overwrite="true")
    assert upload.json() == recorded["upload_response"]["body"]
    await session.assert_scenario(recorded)
    saved = (session.fake.output_dir / "trace_invert_00001_.png").read_bytes()
    assert saved.startswith(b"\x89PNG")


def _png(width: int, height: int, color: int = 0x336699) -> bytes:
    from tests.fake_comfyui.images import Frame, encode_png, rgb_from_int

    return encode_png(Frame.solid(width, height, rgb_from_int(color)))


def _node_blocks(frames: list[Any]) -> dict[str, list[Any]]:
    """Per node: its executing/executed/binary frames (their order across nodes is the server's choice)."""
    blocks: dict[str, list[Any]] = {}
    for frame in frames:
        node = frame.get("node_id") or (frame.get("data") or {}).get("node")
        if frame.get("type") in ("executing", "executed") or "binary" in frame:
            blocks.setdefault(node, []).append(frame)
    return blocks


@pytest.mark.parametrize("name", ["06", "07"])
async def test_multi_output_scenarios(session: Session, name: str) -> None:
    recorded = trace(name)
    result = await session.run(recorded["request"]["body"])
    frames, expected = norm(result["frames"], session.dirs), norm(recorded_frames(recorded["ws_messages"]))
    assert sorted(types(frames)) == sorted(types(expected))
    assert frames[:5] == expected[:5] and frames[-3:] == expected[-3:]
    assert _node_blocks(frames) == _node_blocks(expected)
    observer_types = [t.split(":")[0] for t in recorded["observer_message_type_sequence"]]
    assert types(result["observer"]) == observer_types
    history = norm(result["history"], session.dirs)
    expected_history = norm(recorded["history_at_completion"]["body"])
    (entry,), (expected_entry,) = history.values(), expected_history.values()
    assert entry["outputs"] == expected_entry["outputs"] and entry["meta"] == expected_entry["meta"]
    assert sorted(entry["prompt"][4]) == sorted(expected_entry["prompt"][4])
    await assert_views(session, result["history"], recorded["views"])


async def assert_views(session: Session, history: dict, recorded_views: list[dict]) -> None:
    """GET /view of every file the fake reported: same status, content type and magic as recorded."""
    expected = {norm(v["item"]["filename"]): v for v in recorded_views}
    (entry,) = history.values()
    items = [item for output in entry["outputs"].values() for items in output.values() for item in items
             if isinstance(item, dict)]
    assert len(items) == len(recorded_views)
    for item in items:
        view = expected[norm(item["filename"])]
        response = await session.http.get("/view", params=item)
        assert response.status_code == view["status"]
        assert response.headers["content-type"] == view["content_type"]
        if view["content_type"] == "application/octet-stream":  # safetensors: u64 header size, then JSON
            assert response.content[8:9] == b"{"
        else:
            assert response.content[:4].hex() == view["magic_hex"][:8]
