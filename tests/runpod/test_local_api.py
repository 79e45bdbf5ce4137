"""SERVE_API_LOCALLY: the RunPod SDK's real local test API (``comfyui-worker runpod``) applies MAX_REQUEST_MB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.server import free_port
from tests.supervisor.harness import ROOT

LIMIT_MB = 0.05  # 52,428 bytes


@pytest.fixture(scope="module")
def local_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("local-api")
    port = free_port()
    env = {**os.environ, "SQLITE_DB_PATH": str(tmp / "jobs.db"), "HTTP_API_MODE": "false",
           "SERVE_API_LOCALLY": "true", "API_HOST": "127.0.0.1", "API_PORT": str(port),
           "MAX_REQUEST_MB": str(LIMIT_MB), "COMFY_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)}
    for key in ("RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_WEBHOOK_POST_OUTPUT", "RUNPOD_WEBHOOK_PING"):
        env.pop(key, None)
    log = (tmp / "out.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "supervisor", "runpod"], cwd=tmp, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "out.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def job(size: int) -> bytes:
    body = json.dumps({"input": {"workflow": {"1": {"class_type": "SaveImage", "inputs": {"pad": ""}}}}})
    return body.replace('"pad": ""', '"pad": "' + "x" * size + '"').encode()


def test_a_body_over_max_request_mb_is_413(local_api: str) -> None:
    response = httpx.post(local_api + "/runsync", content=job(200_000),
                          headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == "request body larger than MAX_REQUEST_MB (0.05 MB)"


def test_a_chunked_body_over_max_request_mb_is_413(local_api: str) -> None:
    body = job(200_000)
    chunks = (body[i:i + 16_384] for i in range(0, len(body), 16_384))  # no Content-Length: chunked
    response = httpx.post(local_api + "/run", content=chunks, headers={"content-type": "application/json"},
                          timeout=10)
    assert response.status_code == 413, response.text


def test_a_body_under_the_limit_reaches_the_sdk(local_api: str) -> None:
    response = httpx.post(local_api + "/run", content=job(40_000), headers={"content-type": "application/json"},
                          timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "IN_PROGRESS"  # the SDK's local /run only files the request


def test_readme_says_the_local_api_is_for_local_testing_only() -> None:
    text = (Path(ROOT) / "README.md").read_text()
    start = text.index("SERVE_API_LOCALLY=true` serves")
    assert "local testing only" in text[start:start + 600] and "MAX_REQUEST_MB" in text[start:start + 600]
