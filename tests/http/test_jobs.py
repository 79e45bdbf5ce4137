"""GET /jobs (newest first, paged) and GET /jobs/{id}/outputs/{index} (raw bytes)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from store import OutputFile, Store
from tests.http.conftest import PNG, WORKER, claim, complete, submit


def test_jobs_are_listed_newest_first_a_page_at_a_time(client: TestClient[Litestar]) -> None:
    ids = [submit(client) for _ in range(5)]
    first = client.get("/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["jobs"]] == ids[::-1][:2]
    second = client.get("/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get("/jobs", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [j["id"] for j in second["jobs"] + third["jobs"]] == ids[::-1][2:]
    assert third["next_cursor"] is None
    assert set(first["jobs"][0]) >= {"id", "status", "created_at", "started_at", "completed_at", "error"}


def test_jobs_filter_by_status(client: TestClient[Litestar], store: Store) -> None:
    done, waiting = submit(client), submit(client)
    complete(store, done)
    assert [j["id"] for j in client.get("/jobs", params={"status": "completed"}).json()["jobs"]] == [done]
    assert [j["id"] for j in client.get("/jobs", params={"status": "pending"}).json()["jobs"]] == [waiting]


def test_jobs_reject_bad_status_cursor_and_limit(client: TestClient[Litestar]) -> None:
    for params in ({"status": "done"}, {"cursor": "garbage"}, {"limit": 0}, {"limit": 501}, {"limit": "x"}):
        response = client.get("/jobs", params=params)
        assert response.status_code == 400, params
        assert response.json()["detail"]


def test_output_download_gives_raw_bytes_type_and_name(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    complete(store, job_id)
    response = client.get(f"/jobs/{job_id}/outputs/0")
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert 'filename="out.png"' in response.headers["content-disposition"]


def test_output_file_name_is_quoted_safely(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    claim(store, job_id)
    store.complete(job_id, WORKER, {"images": []}, [OutputFile(0, 'a"b é.png', "image/png", PNG)])
    disposition = client.get(f"/jobs/{job_id}/outputs/0").headers["content-disposition"]
    assert 'filename="a_b _.png"' in disposition and "filename*=UTF-8''a%22b%20%C3%A9.png" in disposition


def test_output_of_unknown_job_or_index_is_404(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    complete(store, job_id)
    assert client.get("/jobs/nope/outputs/0").json()["detail"] == "no job nope"
    response = client.get(f"/jobs/{job_id}/outputs/7")
    assert response.status_code == 404 and response.json()["index"] == 7
    assert client.get(f"/jobs/{job_id}/outputs/x").status_code in (400, 404)
