"""The fake ComfyUI against the recorded traces of a real ComfyUI 0.3.64 (tests/fake_comfyui/data/traces).

Each scenario is replayed against the fake over real sockets; the fake's frames, HTTP bodies and history
are normalised (ids, timestamps, tracebacks, file counters, directories) and compared with the recording.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fake_comfyui import FakeComfyUI

_TLS = ssl.create_default_context()  # one for the module: building it costs ~30 ms per client
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
        return _number(value)
    if isinstance(value, dict):
        return {("<id>" if _ID.match(k) else k): norm(v, dirs, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if len(value) == 5 and isinstance(value[0], int | float) and isinstance(value[2], dict):
            return [_number(value[0]), *(norm(v, dirs) for v in value[1:])]  # a queue item
        return [norm(v, dirs) for v in value]
    if isinstance(value, str):
        if _ID.match(value):
            return "<id>"
        for real, placeholder in (dirs or {}).items():
            value = value.replace(real, placeholder)
        return _TEMP.sub("ComfyUI_temp_X", _COUNTER.sub("_N_.", value))
    return value


def _number(value: float) -> str:
    """Queue numbers count every POST the server saw; only their sign (`front`) is comparable."""
    return "<-number>" if value < 0 else "<number>"


def recorded_frames(messages: list[dict]) -> list[Any]:
    return [m["data"] if m["kind"] == "text" else {"binary": m["event_type"], "node_id": m["node_id"],
                                                    "text": m["text"]} for m in messages]


def types(frames: list[Any]) -> list[str]:
    return [f.get("type", "binary") for f in frames]


def assert_same_ticks(got: list[Any], recorded: list[Any]) -> None:
    assert collapse_progress(norm(got)) == collapse_progress(norm(recorded))


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
        await asyncio.gather(sock.drain(), observer.drain())
        await asyncio.gather(sock.ws.close(), observer.ws.close())
        return {**result, "frames": sock.frames, "observer": observer.frames}

    async def get_json(self, path: str) -> Any:
        return (await self.http.get(path)).json()

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
    fake = FakeComfyUI(tmp_path)
    async with fake, httpx.AsyncClient(base_url=fake.url, timeout=10, verify=_TLS) as http:
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
        if view["status"] != 200:
            continue
        assert response.headers["content-type"] == view["content_type"]
        if view["content_type"] == "application/octet-stream":  # safetensors: u64 header size, then JSON
            assert response.content[8:9] == b"{"
        else:
            assert response.content[:4].hex() == view["magic_hex"][:8]


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [f"{n}" for n in range(10, 21)])
async def test_validation_errors(session: Session, name: str) -> None:
    recorded = trace(name)
    result = await session.run(recorded["request"]["body"])
    assert result["response"].status_code == recorded["prompt_response"]["status"] == 400
    content_type = recorded["prompt_response"]["headers"]["Content-Type"]
    assert result["response"].headers["content-type"] == content_type
    session.assert_matches(result["body"], recorded["prompt_response"]["body"])
    session.assert_matches(result["frames"], recorded_frames(recorded["ws_messages"]))  # no ws traffic
    assert await session.get_json("/queue") == {"queue_running": [], "queue_pending": []}


async def test_22_bad_bodies(session: Session) -> None:
    for case in trace("22")["cases"]:
        recorded = case["resp"]
        if "request_body" in recorded:
            response = await session.http.post("/prompt", json=recorded["request_body"])
        else:
            response = await session.http.post("/prompt", content=b"{not json")
        assert response.status_code == recorded["status"], case["case"]
        assert response.headers["content-type"] == recorded["headers"]["Content-Type"]
        if "body" in recorded:
            session.assert_matches(response.json(), recorded["body"])
        else:
            assert response.text == recorded["body_text"]


# --- runtime errors -------------------------------------------------------------------------------


async def test_23_24_25_runtime_errors(session: Session) -> None:
    upload = await session.upload("broken.png", BROKEN_PNG, overwrite="true")
    assert upload.json() == trace("23")["upload_response"]["body"]
    for name in ("23", "24", "25"):
        recorded = trace(name)
        result = await session.run(recorded["request"]["body"])
        frames = norm(result["frames"], session.dirs)
        expected = norm(recorded_frames(recorded["ws_messages"]))
        for frame in (*frames, *expected):  # set() order in the real server
            if frame.get("type") == "execution_error":
                frame["data"]["executed"].sort()
                frame["data"]["current_outputs"].sort()
        assert frames == expected
        history = norm(result["history"], session.dirs)
        expected_history = norm(recorded["history_at_completion"]["body"])
        for entry in (*history.values(), *expected_history.values()):
            entry["status"]["messages"][-1][1]["executed"].sort()
            entry["status"]["messages"][-1][1]["current_outputs"].sort()
            entry["prompt"][4].sort()
        assert history == expected_history


# --- interrupts -----------------------------------------------------------------------------------


async def _slow_run(session: Session, recorded: dict, trigger: Any, action: Any) -> list[Any]:
    client_id = str(uuid.uuid4())
    sock = await session.socket(client_id)
    body = {**recorded["request"]["body"], "client_id": client_id}
    prompt_id = (await session.http.post("/prompt", json=body)).json()["prompt_id"]
    await sock.until(trigger)
    await action(prompt_id)
    await sock.until(is_done(prompt_id))
    return sock.frames


def progress_at(value: int) -> Any:
    return lambda f: f.get("type") == "progress" and f["data"]["value"] == value


async def test_26_interrupt_during_progress(session: Session) -> None:
    session.fake.configure(delay_ms=1000, progress_steps=0)
    recorded = trace("26")
    frames = await _slow_run(session, recorded, progress_at(5), lambda _: session.http.post("/interrupt"))
    assert_same_ticks(frames, recorded_frames(recorded["ws_messages"]))
    history = (await session.http.get(f"/history/{frames[3]['data']['prompt_id']}")).json()
    session.assert_matches(history, recorded["history_at_completion"]["body"])


async def test_27_interrupt_between_nodes_waits_for_the_next_node(session: Session) -> None:
    session.fake.configure(delay_ms=500, progress_steps=0)
    recorded = trace("27")
    started = lambda f: f.get("type") == "executing" and f["data"].get("node") == "2"  # noqa: E731
    frames = await _slow_run(session, recorded, started, lambda _: session.http.post("/interrupt", json={}))
    session.assert_matches(frames, recorded_frames(recorded["ws_messages"]))


async def test_28_targeted_interrupt(session: Session) -> None:
    session.fake.configure(delay_ms=1000, progress_steps=0)
    recorded = trace("28")

    async def interrupt_other_then_this(prompt_id: str) -> None:
        other = await session.http.post("/interrupt", json={"prompt_id": str(uuid.uuid4())})
        assert other.status_code == 200 and other.content == b""
        await asyncio.sleep(0.02)
        await session.http.post("/interrupt", json={"prompt_id": prompt_id})

    frames = await _slow_run(session, recorded, progress_at(5), interrupt_other_then_this)
    assert_same_ticks(frames, recorded_frames(recorded["ws_messages"]))
    assert max(f["data"]["value"] for f in frames if f.get("type") == "progress") > 5  # the first was a no-op


async def test_29_interrupt_while_idle_is_forgotten(session: Session) -> None:
    recorded = trace("29")
    for call in recorded["interrupt_while_idle"]:
        response = await session.http.post("/interrupt", json=call.get("request_body"))
        assert (response.status_code, response.content) == (call["status"], b"")
    await session.assert_scenario(recorded)


# --- queue ----------------------------------------------------------------------------------------


def _by_prompt(frames: list[Any], prompt_id: str) -> list[Any]:
    return [f for f in frames if isinstance(f.get("data"), dict) and f["data"].get("prompt_id") == prompt_id]


async def test_30_queue_delete_pending(session: Session) -> None:
    session.fake.configure(delay_ms=200, progress_steps=0)
    recorded = trace("30")
    client_id = str(uuid.uuid4())
    sock = await session.socket(client_id)
    ids = {}
    for name in "ABC":
        body = {**recorded["post_responses"][name]["request_body"], "client_id": client_id}
        ids[name] = (await session.http.post("/prompt", json=body)).json()["prompt_id"]
        if name == "A":
            await sock.until(lambda f: f.get("type") == "execution_start")
    queue = await session.get_json("/queue")
    session.assert_matches(queue, recorded["queue_while_A_running"]["body"])
    session.assert_matches(await session.get_json("/prompt"), recorded["get_prompt_while_running"]["body"])
    deletes = {"delete_B": ids["B"], "delete_unknown_id": "no-such-id", "delete_running_A": ids["A"]}
    for key, prompt_id in deletes.items():
        response = await session.http.post("/queue", json={"delete": [prompt_id]})
        assert (response.status_code, response.content) == (recorded[key]["status"], b"")
    session.assert_matches(await session.get_json("/queue"), recorded["queue_after_delete"]["body"])
    await sock.until(is_done(ids["C"]))
    assert await session.get_json("/queue") == recorded["queue_at_end"]["body"]
    recorded_frames_ = recorded_frames(recorded["ws_messages"])
    statuses = [f["data"]["status"] for f in sock.frames if f.get("type") == "status"]
    assert statuses == [f["data"]["status"] for f in recorded_frames_ if f.get("type") == "status"]
    recorded_ids = recorded["prompt_ids"]
    for name in "ABC":
        got = collapse_progress(norm(_by_prompt(sock.frames, ids[name])))
        assert got == collapse_progress(norm(_by_prompt(recorded_frames_, recorded_ids[name]))), name
        history = await session.get_json(f"/history/{ids[name]}")
        session.assert_matches(history, recorded["history"][name]["body"])


async def test_31_queue_clear_and_front(session: Session) -> None:
    session.fake.configure(delay_ms=150, progress_steps=0)
    recorded = trace("31")
    client_id = str(uuid.uuid4())
    sock = await session.socket(client_id)
    ids = {}

    async def post(name: str) -> None:
        body = {**recorded["post_responses"][name]["request_body"], "client_id": client_id}
        response = await session.http.post("/prompt", json=body)
        session.assert_matches(response.json(), recorded["post_responses"][name]["body"])
        assert response.json()["number"] < 0 if name == "F" else response.json()["number"] >= 0
        ids[name] = response.json()["prompt_id"]

    await post("A")
    await sock.until(lambda f: f.get("type") == "execution_start")
    await post("B")
    await post("C")
    session.assert_matches(await session.get_json("/queue"), recorded["queue_before_clear"]["body"])
    clear = await session.http.post("/queue", json={"clear": True})
    assert clear.status_code == recorded["clear"]["status"]
    session.assert_matches(await session.get_json("/queue"), recorded["queue_after_clear"]["body"])
    for name in "DEF":
        await post(name)
    session.assert_matches(await session.get_json("/queue"), recorded["queue_after_DEF"]["body"])
    await sock.until(is_done(ids["E"]))
    starts = [f["data"]["prompt_id"] for f in sock.frames if f.get("type") == "execution_start"]
    assert starts == [ids[name] for name in recorded["execution_start_order"]]
    statuses = [f["data"]["status"] for f in sock.frames if f.get("type") == "status"]
    assert statuses == [f["data"]["status"] for f in recorded_frames(recorded["ws_messages"])
                        if f.get("type") == "status"]


# --- sockets and clients --------------------------------------------------------------------------


async def test_32_no_client_id_broadcasts_only_status_and_progress_state(session: Session) -> None:
    recorded = trace("32")
    sock = await session.socket(str(uuid.uuid4()))
    prompt_id = (await session.http.post("/prompt", json=recorded["request"]["body"])).json()["prompt_id"]
    await sock.until(lambda f: f.get("type") == "status" and f["data"]["status"] == {
        "exec_info": {"queue_remaining": 0}})
    session.assert_matches(sock.frames, recorded_frames(recorded["ws_messages"]))
    history = await session.get_json(f"/history/{prompt_id}")
    session.assert_matches(history, recorded["history_after_linger"]["body"])


async def test_33_reconnect_mid_run_gets_status_and_current_node(session: Session) -> None:
    session.fake.configure(delay_ms=600, progress_steps=0)
    recorded = trace("33")
    client_id = str(uuid.uuid4())
    first = await session.socket(client_id)
    body = {**recorded["post_response"]["request_body"], "client_id": client_id}
    prompt_id = (await session.http.post("/prompt", json=body)).json()["prompt_id"]
    await first.until(progress_at(10))
    assert session.fake.drop_sockets() == 1
    with pytest.raises(ConnectionClosed):
        await first.until(lambda f: False)
    second = Socket(await connect(f"{session.fake.ws_url}?clientId={client_id}"))
    await second.until(is_done(prompt_id))
    expected_second = recorded_frames(recorded["ws_messages_second_socket"])
    assert norm(second.frames[:2]) == norm(expected_second[:2])
    assert collapse_progress(norm(second.frames)) == collapse_progress(norm(expected_second))
    assert collapse_progress(norm(first.frames)) == collapse_progress(
        norm(recorded_frames(recorded["ws_messages_first_socket"])))
    session.assert_matches(await session.get_json(f"/history/{prompt_id}"), recorded["history"]["body"])


async def test_34_feature_flags(session: Session) -> None:
    recorded = trace("34")
    client_id = str(uuid.uuid4())
    sock = await session.socket(client_id)
    await sock.ws.send(json.dumps(recorded["ws_sent_by_client"][0]["data"]))
    body = {**recorded["request"]["body"], "client_id": client_id}
    prompt_id = (await session.http.post("/prompt", json=body)).json()["prompt_id"]
    await sock.until(is_done(prompt_id))
    session.assert_matches(sock.frames, recorded_frames(recorded["ws_messages"]))


async def test_35_client_supplied_prompt_id_and_extra_data(session: Session) -> None:
    recorded = trace("35")
    result = await session.assert_scenario(recorded)
    assert result["body"]["prompt_id"] == recorded["client_chosen_prompt_id"]
    duplicate = recorded["duplicate_prompt_id_run"]
    result = await session.assert_scenario(duplicate)
    assert list(await session.get_json("/history")) == [recorded["client_chosen_prompt_id"]]


async def test_36_history_written_between_success_and_final_status(session: Session) -> None:
    recorded = trace("36")
    await session.assert_scenario(recorded)
    session.fake.configure(history_delay_ms=100)  # widen the race window the real server has
    client_id = str(uuid.uuid4())
    sock = await session.socket(client_id)
    body = {**trace("01")["request"]["body"], "client_id": client_id}
    prompt_id = (await session.http.post("/prompt", json=body)).json()["prompt_id"]
    await sock.until(lambda f: f.get("type") == "execution_success")
    assert await session.get_json(f"/history/{prompt_id}") == {}
    await sock.until(is_done(prompt_id))
    assert prompt_id in await session.get_json(f"/history/{prompt_id}")


# --- files ----------------------------------------------------------------------------------------


async def test_38_uploads(session: Session) -> None:
    recorded = trace("38")
    for case in recorded["cases"]:
        resp = case["resp"]
        sent = resp.get("request_multipart")
        if sent is None:
            response = await session.http.post("/upload/image", files={"other": ("x", b"x")})
        else:
            data = bytes([sent["bytes"] % 256]) * sent["bytes"]  # same size <=> same bytes in the recording
            response = await session.upload(sent["filename"], data, **sent["fields"])
        assert response.status_code == resp["status"], case["case"]
        if "body" in resp:
            assert response.json() == resp["body"], case["case"]
        else:
            assert response.content == b""
    input_dir = session.fake.input_dir
    created = {str(p.relative_to(input_dir)) for p in input_dir.rglob("*") if p.is_file()}
    assert created == set(recorded["input_dir_listing"]) - {"broken.png", "trace_input.png"}
    assert (session.fake.temp_dir / "up_temp.png").is_file()
    await session.upload("up_sub.png", _png(4, 4), overwrite="true", subfolder="jobs/abc")
    await session.assert_scenario(recorded["loadimage_subfolder_run"])
    await session.run(trace("01")["request"]["body"])
    await session.assert_scenario(recorded["loadimage_annotated_run"])


async def test_39_view_variants(session: Session) -> None:
    await session.upload("trace_input.png", _png(8, 8), overwrite="true")
    prompt = {  # the files trace 39 asks for: trace_basic_00001_.png, sub/dir/..., latents/...
        **trace("01")["workflow"],
        "3": {"class_type": "SaveImage",
              "inputs": {"images": ["1", 0], "filename_prefix": "sub/dir/trace_multi_b"}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "SaveLatent",
              "inputs": {"samples": ["4", 0], "filename_prefix": "latents/trace_multi"}},
    }
    await session.run({"prompt": prompt, "client_id": "x"})
    for name, recorded in trace("39")["cases"].items():
        response = await session.http.get(recorded["path"])
        assert response.status_code == recorded["status"], name
        for header in ("Content-Type", "Content-Disposition"):
            assert response.headers.get(header) == recorded["headers"].get(header), (name, header)
        if recorded["status"] != 200:
            assert response.content == b""
        elif recorded["headers"]["Content-Type"] != "application/octet-stream":
            assert response.content[:4].hex() == recorded["body_head_hex"][:8], name


async def test_40_history_endpoints(session: Session) -> None:
    recorded = trace("40")
    ids = []
    for color in (1, 2, 3):
        body = {"prompt": {**trace("01")["workflow"], "1": {"class_type": "EmptyImage", "inputs": {
            "width": 8, "height": 8, "batch_size": 1, "color": color}}}, "client_id": "x"}
        ids.append((await session.run(body))["body"]["prompt_id"])
    assert list(await session.get_json("/history?max_items=2")) == ids[1:]
    assert list(await session.get_json("/history?max_items=1&offset=0")) == ids[:1]
    unknown = await session.http.get(recorded["history_unknown_id"]["path"])
    assert unknown.json() == recorded["history_unknown_id"]["body"]
    delete = await session.http.post("/history", json={"delete": [ids[0]]})
    assert (delete.status_code, delete.content) == (recorded["history_delete"]["status"], b"")
    assert await session.get_json(f"/history/{ids[0]}") == recorded["history_after_delete"]["body"]


async def test_41_misc_gets(session: Session) -> None:
    for path, recorded in trace("41")["responses"].items():
        method, _, url = path.rpartition(" ")
        response = await session.http.request(method or "GET", url, json={} if method == "POST" else None)
        assert response.status_code == recorded["status"], path
        if path == "/system_stats":
            assert _shape(response.json()) == _shape(recorded["body"])
        elif path == "/object_info/LoadImage":
            assert response.json()["LoadImage"]["input"]["required"]["image"][0] == []  # empty input dir
        elif "body" in recorded:
            assert response.json() == recorded["body"], path
    object_info = await session.get_json("/object_info")
    assert {"EmptyImage", "SaveImage", "LoadImage", "PreviewImage"} <= set(object_info)


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


# --- caching --------------------------------------------------------------------------------------


async def test_42_reupload_invalidates_loadimage_cache(session: Session) -> None:
    recorded = trace("42")
    for upload, run in zip([*recorded["uploads"], None], recorded["runs"], strict=True):
        if upload is not None:
            sent = upload["request_multipart"]
            content = _png(4, 4, color=sent["bytes"])
            response = await session.upload(sent["filename"], content, **sent["fields"])
            assert response.json() == upload["body"]
        result = await session.assert_scenario(run)
        executed = next(f for f in result["frames"] if f.get("type") == "executed")
        expected = next(f for f in recorded_frames(run["ws_messages"]) if f.get("type") == "executed")
        assert executed["data"]["output"] == expected["data"]["output"]  # exact names: 00001, 00002, 00002


async def test_43_cached_output_file_deleted_then_free(session: Session) -> None:
    recorded = trace("43")
    await session.assert_scenario(recorded["first"])
    (session.fake.output_dir / recorded["deleted_file"]).unlink()
    result = await session.assert_scenario(recorded["cached_rerun"])
    await assert_views(session, result["history"], recorded["cached_rerun"]["views"])
    free = await session.http.post("/free", json={"free_memory": True})
    assert (free.status_code, free.content) == (200, b"")
    result = await session.assert_scenario(recorded["after_free"])
    await assert_views(session, result["history"], recorded["after_free"]["views"])


# --- knobs, crash and hang ------------------------------------------------------------------------


async def test_delay_knob_spreads_time_and_progress_over_nodes(session: Session) -> None:
    knobs = await session.http.post("/_fake/config", json={"delay_ms": 200, "progress_steps": 4})
    assert knobs.json() == {"delay_ms": 200, "progress_steps": 4, "history_delay_ms": 0, "garble_path": "",
                            "garble_body": "<html><body>502 Bad Gateway</body></html>", "ignore_interrupt": False,
                            "oom_prompts": 0, "vram_total_mb": 0, "vram_per_prompt_mb": 0, "rss_per_prompt_mb": 0}
    started = time.monotonic()
    result = await session.run(trace("01")["request"]["body"])
    assert time.monotonic() - started >= 0.2
    ticks = [(f["data"]["node"], f["data"]["value"], f["data"]["max"]) for f in result["frames"]
             if f.get("type") == "progress"]
    assert ticks == [(node, value, 4) for node in "12" for value in range(1, 5)]
    stats = await session.get_json("/_fake/stats")
    assert (stats["received"], stats["executed"], stats["running"]) == (1, 1, [])
    assert stats["executed_ids"] == [result["body"]["prompt_id"]]


async def test_garble_knob_answers_garbage_after_handling_the_request(session: Session) -> None:
    """Fault injection only: off by default; when set, the request still takes effect, the answer is garbage."""
    await session.http.post("/_fake/config", json={"garble_path": "/prompt"})
    answer = await session.http.post("/api/prompt", json=trace("01")["request"]["body"])
    assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (200, "text/html")
    assert answer.text == "<html><body>502 Bad Gateway</body></html>"
    assert (await session.get_json("/_fake/stats"))["received"] == 1  # the prompt was queued all the same
    assert (await session.http.get("/queue")).json().keys() == {"queue_running", "queue_pending"}
    await session.http.post("/_fake/config", json={"garble_path": ""})


async def test_hang_stops_answering_until_it_ends(session: Session) -> None:
    session.fake.hang(0.3)
    started = time.monotonic()
    assert (await session.http.get("/queue")).status_code == 200
    assert time.monotonic() - started >= 0.25
    await session.http.post("/_fake/hang", json={"seconds": None})
    with pytest.raises(httpx.ReadTimeout):
        await session.http.get("/system_stats", timeout=0.2)
    await session.http.post("/_fake/unhang")
    assert (await session.http.get("/system_stats")).status_code == 200


async def test_in_process_crash_and_restart(session: Session) -> None:
    sock = await session.socket("c")
    await session.upload("kept.png", _png(2, 2))
    session.fake.crash()
    with pytest.raises(ConnectionClosed):
        await sock.until(lambda f: False)
    with pytest.raises(httpx.ConnectError):
        await session.http.get("/queue")
    session.fake.restart()
    assert await session.get_json("/history") == {}
    assert (session.fake.input_dir / "kept.png").is_file()


def test_separate_process_has_comfyui_command_line_and_crashes_on_request(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, str(MAIN), "--listen", "127.0.0.1", "--port", str(port), "--cpu",
               "--input-directory", str(tmp_path / "in"), "--output-directory", str(tmp_path / "out"),
               "--temp-directory", str(tmp_path), "--disable-auto-launch", "--unknown-flag"]
    process = subprocess.Popen(command, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={"FAKE_COMFYUI_DELAY_MS": "50", "PATH": "/usr/bin:/bin"})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(url + "/system_stats").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.05)
        assert httpx.get(url + "/_fake/config").json()["delay_ms"] == 50
        response = httpx.post(url + "/prompt", json=trace("01")["request"]["body"])
        assert response.status_code == 200
        assert (tmp_path / "temp").is_dir()  # ComfyUI appends /temp to --temp-directory
        with pytest.raises(httpx.TransportError):
            httpx.post(url + "/_fake/crash")
        assert process.wait(timeout=5) == 1
        output = process.stdout.read().decode() if process.stdout else ""
        assert "To see the GUI go to: http://127.0.0.1:" in output and "got prompt" in output
    finally:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
