"""W1, W2 and W3 (issue 11), one client per way of running a job, and the check of every output.

* W1: ``n`` jobs EmptyImage 64x64 (a unique colour each) -> SaveImage, ``conc`` client tasks in a closed loop (a
  job holds its slot from submit until its PNG bytes are in hand). Makespan: first submit -> last PNG in hand.
* W2: ``n`` such jobs one after another; latency submit -> PNG bytes in hand, median and p90.
* W3: ``n`` sequential LoadImage -> ImageInvert -> SaveImage jobs, each with a fresh 512x512 noise PNG (~780 KB);
  median latency, moving the image in and out included.

Every output is checked, not only its HTTP status: its size, and its first pixel against the job's colour (W3: 255
minus the input's first pixel), each channel within 1. A wrong output is counted, never hidden.

Every client uses one aiohttp session (the same library and settings on every side, so the client costs the same
everywhere). ``RawComfyUI`` is the limit: ComfyUI driven directly the efficient way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import struct
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiohttp

PREFIX = "bench_"  # every file this benchmark makes in ComfyUI's folders starts with it
JOB_TIMEOUT_S = 300.0
RUNNING = ("pending", "running")
Json = dict[str, Any]


# --- workflows and colours ---------------------------------------------------------------------------------

def trivial_workflow(color: int, prefix: str) -> Json:
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}}


def slow_workflow(color: int, prefix: str) -> Json:
    """About a second on ComfyUI --cpu, model-free (a large blurred image, scaled down); still one colour."""
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 1536, "height": 1536, "batch_size": 1,
                                                          "color": color}},
            "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 15, "sigma": 3.0}},
            "3": {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "nearest-exact",
                                                          "width": 64, "height": 64, "crop": "disabled"}},
            "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": prefix}}}


def invert_workflow(image: str, prefix: str) -> Json:
    return {"1": {"class_type": "LoadImage", "inputs": {"image": image}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}}


class Colours:
    """Colours never used before in this process (a random start, a prime step), so ComfyUI never answers a job
    from its cache."""

    def __init__(self) -> None:
        self.start, self.n = int.from_bytes(os.urandom(3), "big"), 0

    def next(self) -> int:
        self.n += 1
        return (self.start + self.n * 7919) % 0x1000000


def rgb(color: int) -> tuple[int, int, int]:
    return (color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF


# --- PNG: make a noise input, read an output's size and first pixel ----------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def noise_png(size: int = 512) -> tuple[bytes, tuple[int, int, int]]:
    """An RGB PNG of random pixels (it does not compress: ~780 KB at 512x512) and its first pixel."""
    pixels = os.urandom(size * size * 3)
    rows = b"".join(b"\0" + pixels[y * size * 3:(y + 1) * size * 3] for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 1)) \
        + _chunk(b"IEND", b"")
    return png, (pixels[0], pixels[1], pixels[2])


def first_pixel(png: bytes) -> tuple[int, int, tuple[int, int, int]]:
    """(width, height, RGB of the top-left pixel) of an 8-bit RGB(A) PNG. That pixel is stored as is under every
    PNG filter (its left and upper neighbours count as zero), so a few decompressed bytes are enough."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG")
    pos, width, height, idat = 8, 0, 0, []
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    row = zlib.decompressobj().decompress(b"".join(idat), 4)  # the filter byte, then R, G, B
    return width, height, (row[1], row[2], row[3])


def matches(png: bytes, size: int, want: tuple[int, int, int]) -> bool:
    try:
        width, height, pixel = first_pixel(png)
    except (ValueError, zlib.error, struct.error, IndexError):
        return False
    return (width, height) == (size, size) and all(abs(a - b) <= 1 for a, b in zip(pixel, want, strict=True))


# --- clients: run(workflow) and invert(png) return the output PNG's bytes ---------------------------------

class JobFailed(Exception):
    pass


class Client:
    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base, self.s = base.rstrip("/"), session
        self.stats: dict[str, int] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1

    async def run(self, workflow: Json) -> bytes:
        """Run one workflow; its first image output's bytes."""
        raise NotImplementedError

    async def invert(self, png: bytes, prefix: str) -> bytes:
        raise NotImplementedError

    async def _json(self, response: aiohttp.ClientResponse, what: str) -> Json:
        body: Json = await response.json()
        if response.status != 200:
            raise JobFailed(f"{what} {response.status} {str(body)[:300]}")
        return body


class RawComfyUI(Client):
    """ComfyUI itself: POST /prompt (our own prompt_id, registered before the POST so no event is missed), one
    shared /ws for completion (``executing`` with node null), GET /history/{id}, GET /view. W3: POST /upload/image
    first."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        super().__init__(base, session)
        self.client_id = uuid.uuid4().hex
        self.waiters: dict[str, asyncio.Future[None]] = {}

    async def start(self) -> None:
        url = self.base.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        self.ws = await self.s.ws_connect(url, max_msg_size=0)
        self.reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        self.reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue  # previews
            event = json.loads(message.data)
            data = event.get("data") or {}
            if event.get("type") == "executing" and data.get("node") is None:
                waiter = self.waiters.pop(data.get("prompt_id") or "", None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    async def run(self, workflow: Json) -> bytes:
        prompt_id = uuid.uuid4().hex
        done = self.waiters[prompt_id] = asyncio.get_running_loop().create_future()
        body = {"prompt": workflow, "client_id": self.client_id, "prompt_id": prompt_id}
        try:
            async with self.s.post(f"{self.base}/prompt", json=body) as r:
                await self._json(r, "POST /prompt")
        except BaseException:
            self.waiters.pop(prompt_id, None)
            raise
        await asyncio.wait_for(done, JOB_TIMEOUT_S)
        async with self.s.get(f"{self.base}/history/{prompt_id}") as r:
            entry = (await self._json(r, "GET /history"))[prompt_id]
        if entry["status"].get("status_str") != "success":
            raise JobFailed(f"prompt failed: {entry['status']}")
        for output in entry["outputs"].values():
            for image in output.get("images", []):
                params = {k: image.get(k, "") for k in ("filename", "subfolder", "type")}
                async with self.s.get(f"{self.base}/view", params=params) as r:
                    if r.status != 200:
                        raise JobFailed(f"GET /view {r.status}")
                    return await r.read()
        raise JobFailed("no image in the outputs")

    async def invert(self, png: bytes, prefix: str) -> bytes:
        form = aiohttp.FormData()
        form.add_field("image", png, filename=f"{prefix}_{uuid.uuid4().hex}.png", content_type="image/png")
        form.add_field("overwrite", "true")
        async with self.s.post(f"{self.base}/upload/image", data=form) as r:
            up = await self._json(r, "POST /upload/image")
        name = f"{up['subfolder']}/{up['name']}" if up.get("subfolder") else up["name"]
        return await self.run(invert_workflow(name, prefix))


class Worker(Client):
    """comfyui-worker over HTTP. Outputs come inline as base64 in the status body (result.images[0].data), as the
    peerbench client takes them. ``mode``: ``sync`` POST /runsync?wait=120 (polls on if it answers before the end,
    counted as sync_not_done); ``poll`` POST /run, then GET /status/{id} every ``poll_s``; ``wait`` POST /run, then
    GET /status/{id}?wait=60 (a long poll) until the end."""

    def __init__(self, base: str, session: aiohttp.ClientSession, mode: str, poll_s: float = 0.01) -> None:
        super().__init__(base, session)
        self.mode, self.poll_s = mode, poll_s

    async def _status(self, job_id: str, params: dict[str, str] | None = None) -> Json:
        async with self.s.get(f"{self.base}/status/{job_id}", params=params) as r:
            self.count("status_requests")
            return await self._json(r, "GET /status")

    async def _follow(self, job_id: str) -> Json:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.mode == "wait":
                body = await self._status(job_id, {"wait": "60"})
            else:
                await asyncio.sleep(self.poll_s)
                body = await self._status(job_id)
            if body.get("status") not in RUNNING:
                return body
        raise JobFailed(f"job {job_id} not done after {JOB_TIMEOUT_S:.0f} s")

    async def run(self, workflow: Json) -> bytes:
        return await self._request({"workflow": workflow})

    async def _request(self, request: Json) -> bytes:
        if self.mode == "sync":
            async with self.s.post(f"{self.base}/runsync", params={"wait": "120"}, json=request) as r:
                body = await self._json(r, "POST /runsync")
            if body.get("status") in RUNNING:
                self.count("sync_not_done")
                body = await self._follow(body["job_id"])
        else:
            async with self.s.post(f"{self.base}/run", json=request) as r:
                body = await self._follow((await self._json(r, "POST /run"))["job_id"])
        if body.get("status") != "completed":
            raise JobFailed(f"job {body.get('status')}: {str(body.get('error'))[:300]}")
        images = (body.get("result") or {}).get("images") or []
        if not images or images[0].get("type") != "base64":
            raise JobFailed(f"no base64 image in the result: {str(body.get('result'))[:200]}")
        return base64.b64decode(images[0]["data"])

    async def invert(self, png: bytes, prefix: str) -> bytes:
        name = f"{prefix}_{uuid.uuid4().hex}.png"
        return await self._request({"workflow": invert_workflow(name, prefix),
                                "images": [{"name": name, "image": base64.b64encode(png).decode()}]})


def session() -> aiohttp.ClientSession:
    # keep-alive 3 s: below uvicorn's 5 s, so a connection the server is closing is never reused
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=900)
    return aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=3))


# --- the workloads -----------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


class Tally:
    """Latencies, failures and wrong outputs of one workload run."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.wrong = 0

    async def job(self, run: Callable[[], Awaitable[bytes]], size: int, want: tuple[int, int, int]) -> float | None:
        """Run one job; its latency (None when it failed). The output is checked after the clock stops."""
        started = time.perf_counter()
        try:
            png = await run()
        except Exception as e:  # a failed job is counted, the run goes on
            self.errors.append(f"{type(e).__name__}: {str(e)[:200]}")
            return None
        ended = time.perf_counter()
        self.latencies.append(ended - started)
        if not matches(png, size, want):
            self.wrong += 1
        return ended

    def summary(self, n: int) -> Json:
        ms = [x * 1000 for x in self.latencies]
        out: Json = {"n": n, "ok": len(ms), "errors": len(self.errors), "wrong": self.wrong,
                     "error_samples": sorted(set(self.errors))[:3]}
        if ms:
            out |= {"median_ms": statistics.median(ms), "p90_ms": percentile(ms, 0.9), "max_ms": max(ms),
                    "latencies_ms": [round(x, 2) for x in ms]}
        return out


async def w1(client: Client, colours: Colours, n: int, conc: int, prefix: str,
             make: Callable[[int, str], Json] = trivial_workflow) -> Json:
    slots, tally = asyncio.Semaphore(conc), Tally()
    first: list[float] = []
    last: list[float] = []

    async def one() -> None:
        color = colours.next()
        async with slots:
            first.append(time.perf_counter())
            ended = await tally.job(partial(client.run, make(color, prefix)), 64, rgb(color))
            if ended is not None:
                last.append(ended)

    await asyncio.gather(*(one() for _ in range(n)))
    out = tally.summary(n)
    if first and last:
        out["makespan_s"] = max(last) - min(first)
        out["jobs_per_s"] = len(last) / out["makespan_s"]
    return out


async def w2(client: Client, colours: Colours, n: int, prefix: str) -> Json:
    tally = Tally()
    for _ in range(n):
        color = colours.next()
        await tally.job(partial(client.run, trivial_workflow(color, prefix)), 64, rgb(color))
    return tally.summary(n)


async def w3(client: Client, n: int, prefix: str) -> Json:
    inputs = [noise_png() for _ in range(n)]  # made before the clock starts
    tally = Tally()
    for png, pixel in inputs:
        inverted = (255 - pixel[0], 255 - pixel[1], 255 - pixel[2])
        await tally.job(partial(client.invert, png, prefix), 512, inverted)
    out = tally.summary(n)
    out["input_bytes"] = len(inputs[0][0]) if inputs else 0
    return out


async def warm_up(client: Client, colours: Colours, prefix: str) -> list[str]:
    """3 trivial jobs and 1 W3 job, not recorded; what failed."""
    tally = Tally()
    for _ in range(3):
        color = colours.next()
        await tally.job(partial(client.run, trivial_workflow(color, prefix)), 64, rgb(color))
    png, pixel = noise_png()
    await tally.job(partial(client.invert, png, prefix), 512, (255 - pixel[0], 255 - pixel[1], 255 - pixel[2]))
    return tally.errors + (["wrong output"] * tally.wrong)
