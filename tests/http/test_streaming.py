"""Large outputs are streamed from the store a chunk at a time: same bytes, bounded memory, loop kept free."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import OutputFile, Store
from tests.http.conftest import WORKER, WORKFLOW, claim
from tests.http.server import Server, running_server
from tests.http.test_watcher import SqlLog
from transports.streaming import CHUNK, STREAM_OVER

MB = 1 << 20


def finished_job(store: Store, sizes: list[int]) -> tuple[str, list[bytes]]:
    """A completed job with one stored output per size (random bytes), an S3 entry and a text output."""
    job_id = store.create_job(WORKFLOW).id
    claim(store, job_id)
    blobs = [os.urandom(size) for size in sizes]
    images = [{"filename": f"o{i}.bin", "type": "base64", "output_index": i, "node_id": "2",
               "content_type": "application/octet-stream", "subfolder": ""} for i in range(len(sizes))]
    images.insert(1, {"filename": "s3.png", "type": "s3_url", "data": "https://s3/x.png", "node_id": "2"})
    result = {"images": images, "text": [{"node_id": "7", "text": 'quote " and \\ backslash'}]}
    outputs = [OutputFile(i, f"o{i}.bin", "application/octet-stream", blob) for i, blob in enumerate(blobs)]
    store.complete(job_id, WORKER, result, outputs)
    return job_id, blobs


def test_status_with_large_outputs_is_the_same_json_with_a_content_length(client: TestClient[Litestar],
                                                                          store: Store) -> None:
    sizes = [2 * MB + 1, 10, CHUNK * 2, 0]
    job_id, blobs = finished_job(store, sizes)
    assert sum(sizes) > STREAM_OVER
    log = SqlLog(client.app.state.service.store)
    response = client.get(f"/status/{job_id}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert "transfer-encoding" not in response.headers
    body = response.json()
    stored = [entry for entry in body["result"]["images"] if entry["type"] == "base64"]
    assert [base64.b64decode(entry["data"]) for entry in stored] == blobs
    assert body["result"]["images"][1] == {"filename": "s3.png", "type": "s3_url", "data": "https://s3/x.png",
                                           "node_id": "2"}
    assert body["result"]["text"] == [{"node_id": "7", "text": 'quote " and \\ backslash'}]
    assert (body["job_id"], body["status"], body["attempts"]) == (job_id, "completed", 1)
    # the event loop's connection never read the bytes: a reader of their own did
    assert not [s for s in log.statements if "job_outputs" in s and "length(data)" not in s]


def test_large_raw_output_is_streamed_with_its_headers(client: TestClient[Litestar], store: Store) -> None:
    job_id, blobs = finished_job(store, [3 * MB + 7])
    log = SqlLog(client.app.state.service.store)
    response = client.get(f"/jobs/{job_id}/outputs/0")
    assert response.status_code == 200 and response.content == blobs[0]
    assert response.headers["content-length"] == str(len(blobs[0]))
    assert response.headers["content-type"] == "application/octet-stream"
    assert 'filename="o0.bin"' in response.headers["content-disposition"]
    assert not [s for s in log.statements if "job_outputs" in s and "length(data)" not in s]
    assert client.get(f"/jobs/{job_id}/outputs/1").status_code == 404


def test_a_job_deleted_while_its_output_streams_still_sends_every_byte(db_path: str, store: Store) -> None:
    job_id, [blob] = finished_job(store, [16 * MB])
    with running_server(db_path) as server:
        with httpx.stream("GET", f"{server.url}/jobs/{job_id}/outputs/0", timeout=30) as response:
            chunks = response.iter_raw()
            first = next(chunks)
            store.delete_job(job_id)  # the stream reads its own snapshot
            rest = b"".join(chunks)
        assert first + rest == blob
        assert httpx.get(f"{server.url}/jobs/{job_id}/outputs/0", timeout=5).status_code == 404


# --- a real server: its memory ------------------------------------------------------------------------------

def _rss_peak_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM (the peak RSS) to the current RSS


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def _download(url: str, digests: list[str], lengths: list[int]) -> None:
    digest, n = hashlib.sha256(), 0
    with httpx.stream("GET", url, timeout=60) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            digest.update(chunk)
            n += len(chunk)
        assert n == int(response.headers["content-length"])
    digests.append(digest.hexdigest())
    lengths.append(n)


@pytest.fixture
def big_server(db_path: str) -> Iterator[tuple[Server, str, bytes]]:
    store = Store(db_path)
    job_id, [blob] = finished_job(store, [48 * MB])
    store.close()
    with running_server(db_path, INLINE_OUTPUT_MAX_MB="0") as server:  # base64 status bodies of 48 MB: inline
        yield server, job_id, blob


def test_concurrent_large_downloads_keep_the_server_memory_bounded(big_server: tuple[Server, str, bytes]) -> None:
    """5 clients fetch a 48 MB output (3 as base64 status bodies, 2 raw): the server's peak RSS grows by far
    less than one copy of it (read whole, it would hold 48 MB + 64 MB of base64 + 64 MB of JSON per client)."""
    server, job_id, blob = big_server
    pid = server.process.pid
    _rss_peak_reset(pid)
    before = _proc_kb(pid, "VmRSS")
    digests: list[str] = []
    lengths: list[int] = []
    urls = [f"{server.url}/status/{job_id}"] * 3 + [f"{server.url}/jobs/{job_id}/outputs/0"] * 2
    threads = [threading.Thread(target=_download, args=(url, digests, lengths)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    growth_mb = (_proc_kb(pid, "VmHWM") - before) / 1024
    assert len(lengths) == 5 and sorted(lengths)[:2] == [len(blob)] * 2
    assert digests.count(hashlib.sha256(blob).hexdigest()) == 2
    assert growth_mb < 24, f"peak RSS grew by {growth_mb:.0f} MB"
    status = httpx.get(f"{server.url}/status/{job_id}", timeout=60).json()
    assert base64.b64decode(status["result"]["images"][0]["data"]) == blob
    assert json.loads(httpx.get(f"{server.url}/health", timeout=5).text)["status"] in {"healthy", "unhealthy"}
