"""Large outputs: left out of /status and /runsync above INLINE_OUTPUT_MAX_MB (a download URL instead), and
downloaded with Range (206), resumed mid-file over a real uvicorn; bad Range headers get 416."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from store import JobStatus, OutputFile, Store
from tests.http.conftest import WORKER, WORKFLOW
from tests.http.server import Server, running_server
from tests.http.test_streaming import MB, finished_job
from tests.http.test_watcher import SqlLog
from transports.streaming import STREAM_OVER


@pytest.fixture(scope="module")
def module_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("large") / "jobs.db")


@pytest.fixture(scope="module")
def server(module_db: str) -> Iterator[Server]:
    with running_server(module_db, INLINE_OUTPUT_MAX_MB="1") as running:
        yield running


@pytest.fixture
def store(module_db: str, server: Server) -> Iterator[Store]:
    """The server's store (one per module: one server for every test here); its pending jobs cleared."""
    own = Store(module_db)
    for job in own.list_job_infos(JobStatus.PENDING, limit=500).jobs:
        own.cancel(job.id)
    yield own
    own.close()


def test_status_gives_a_url_for_an_output_over_the_limit(server: Server, store: Store) -> None:
    job_id, blobs = finished_job(store, [3 * MB, 100])
    response = httpx.get(f"{server.url}/status/{job_id}")
    assert response.status_code == 200 and len(response.content) < 10_000  # the 3 MB are not in it
    large, _s3, small = response.json()["result"]["images"]
    assert large["type"] == "url" and large["data"] == large["url"] == f"/jobs/{job_id}/outputs/0"
    assert large["output_index"] == 0 and large["filename"] == "o0.bin"
    assert small["type"] == "base64" and base64.b64decode(small["data"]) == blobs[1]
    assert httpx.get(server.url + large["url"]).content == blobs[0]


def test_runsync_gives_a_url_for_an_output_over_the_limit(server: Server, store: Store) -> None:
    blob = bytes(range(256)) * (5 * 4096)  # 5 MB
    answer: list[httpx.Response] = []
    request = threading.Thread(target=lambda: answer.append(
        httpx.post(f"{server.url}/runsync?wait=30", json={"workflow": WORKFLOW}, timeout=40)))
    request.start()
    deadline = time.monotonic() + 20
    while (job := store.claim(WORKER)) is None:
        assert time.monotonic() < deadline, "the /runsync job never arrived"
        time.sleep(0.02)
    result = {"images": [{"filename": "big.bin", "type": "base64", "output_index": 0, "node_id": "2",
                          "content_type": "application/octet-stream", "subfolder": ""}]}
    store.complete(job.id, WORKER, result, [OutputFile(0, "big.bin", "application/octet-stream", blob)])
    request.join(40)
    [entry] = answer[0].json()["result"]["images"]
    assert answer[0].json()["status"] == JobStatus.COMPLETED and entry["type"] == "url"
    assert httpx.get(server.url + entry["data"]).content == blob


def test_ranged_download_resumed_mid_file(server: Server, store: Store) -> None:
    """A client reads part of a large output, loses the connection, and resumes where it stopped."""
    job_id, [blob] = finished_job(store, [6 * MB + 7])
    assert len(blob) > STREAM_OVER  # streamed from the store's blob, not read whole
    url = f"{server.url}/jobs/{job_id}/outputs/0"
    got = bytearray()
    with httpx.stream("GET", url) as response:
        assert response.status_code == 200 and response.headers["accept-ranges"] == "bytes"
        etag = response.headers["etag"]
        for chunk in response.iter_bytes():
            got += chunk
            if len(got) > 2 * MB:
                break  # the connection drops mid-file
    resumed = httpx.get(url, headers={"Range": f"bytes={len(got)}-", "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.headers["content-range"] == f"bytes {len(got)}-{len(blob) - 1}/{len(blob)}"
    assert int(resumed.headers["content-length"]) == len(blob) - len(got)
    assert bytes(got) + resumed.content == blob


@pytest.mark.parametrize(("header", "start", "stop"), [
    ("bytes=0-0", 0, 1), ("bytes=10-19", 10, 20), ("bytes=-5", None, None), ("bytes=100-", 100, None),
    ("bytes=5-99999999", 5, None), ("BYTES = 3-4", 3, 5),
])
@pytest.mark.parametrize("size", [1000, 3 * MB])  # in memory, and streamed from the blob
def test_single_ranges(server: Server, store: Store, size: int, header: str, start: int | None,
                       stop: int | None) -> None:
    job_id, [blob] = finished_job(store, [size])
    response = httpx.get(f"{server.url}/jobs/{job_id}/outputs/0", headers={"Range": header})
    part = blob[-5:] if start is None else blob[start:stop]
    assert response.status_code == 206 and response.content == part
    first = len(blob) - len(part) if start is None else start
    assert response.headers["content-range"] == f"bytes {first}-{first + len(part) - 1}/{len(blob)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "none"])
def test_whole_output_for_several_ranges_or_another_unit(server: Server, store: Store, header: str) -> None:
    job_id, [blob] = finished_job(store, [3 * MB])
    response = httpx.get(f"{server.url}/jobs/{job_id}/outputs/0", headers={"Range": header})
    assert response.status_code == 200 and response.content == blob and "content-range" not in response.headers


def test_if_range_that_does_not_match_gets_the_whole_output(server: Server, store: Store) -> None:
    job_id, [blob] = finished_job(store, [2000])
    response = httpx.get(f"{server.url}/jobs/{job_id}/outputs/0",
                         headers={"Range": "bytes=10-", "If-Range": '"another-version"'})
    assert response.status_code == 200 and response.content == blob


@pytest.mark.parametrize("header", [
    "bytes=abc", "bytes=5-2", "bytes=2000-", "bytes=5000-6000", "bytes=-0", "bytes=", "bytes=1-2-3",
    "bytes=99999999999999999999-", "bytes=0-" + "9" * 300, "bytes=-1,", "bytes=0x10-20",
])
def test_bad_range_is_416_with_the_size(server: Server, store: Store, header: str) -> None:
    job_id, _ = finished_job(store, [2000])
    response = httpx.get(f"{server.url}/jobs/{job_id}/outputs/0", headers={"Range": header})
    assert response.status_code == 416, response.text
    assert response.headers["content-range"] == "bytes */2000"
    assert "Range" in response.json()["detail"]


def test_ranged_stream_never_reads_the_blob_on_the_event_loop(make_client, db_path: str) -> None:
    client = make_client()
    job_id, [blob] = finished_job(client.app.state.service.store, [4 * MB])
    log = SqlLog(client.app.state.service.store)
    response = client.get(f"/jobs/{job_id}/outputs/0", headers={"Range": f"bytes={MB}-{2 * MB - 1}"})
    assert response.status_code == 206 and response.content == blob[MB:2 * MB]
    assert not [s for s in log.statements if "job_outputs" in s and "length(data)" not in s]


def test_a_range_of_another_clients_output_is_404(make_client, tmp_path) -> None:
    """Named keys: the owner is checked before the Range is read (a 416 would tell the output's size)."""
    from tests.http.conftest import complete
    from tests.http.test_keys import ALICE, BOB, auth, keys_file, run

    client = make_client(api_keys_file=keys_file(tmp_path / "keys.toml"))
    job_id = run(client, ALICE)
    complete(client.app.state.service.store, job_id)
    for header in ("bytes=0-3", "bytes=999999-", "bytes=abc"):
        theirs = client.get(f"/jobs/{job_id}/outputs/0", headers={**auth(BOB), "Range": header})
        assert theirs.status_code == 404 and "content-range" not in theirs.headers, theirs.text
    mine = client.get(f"/jobs/{job_id}/outputs/0", headers={**auth(ALICE), "Range": "bytes=0-3"})
    assert mine.status_code == 206 and mine.content == b"\x89PNG"
