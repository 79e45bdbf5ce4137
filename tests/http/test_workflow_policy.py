"""POST /run refuses, with 400 naming node, class type and input, a workflow that reads files it did not bring,
or that uses a node type the operator does not allow (NODE_DENYLIST / NODE_ALLOWLIST). A real uvicorn on
loopback; the last test runs the whole daemon with the fake ComfyUI."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import Store
from store.policy import NodeCatalog
from tests.http.server import Server, running_server
from tests.image_bytes import png
from tests.supervisor.harness import RunningDaemon
from tests.workflow_attacks import check_refusals_and_allowed_files

PNG = png()

ATTACKS = ["/srv/secret.png", "../../secret.png", "x.png [output]", "x.png [input]", "x.png [temp]",
           "jobs/3f0c2a9e-0000-4000-8000-000000000000/in.png", "..\\secret.png", "", "a\x07.png", "..",
           "C:\\secret.png"]


def load(name: Any, class_type: str = "LoadImage", key: str = "image") -> dict[str, Any]:
    return {"1": {"class_type": class_type, "inputs": {key: name}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "p"}}}


class Api:
    """A real ``comfyui-worker http`` and its store's path."""

    def __init__(self, server: Server, db_path: str) -> None:
        self.url, self.db_path = server.url, db_path

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.url + "/run", json=body, timeout=10)

    def store_catalog(self, file_inputs: dict[str, tuple[str, ...]]) -> None:
        """What an executor does once its ComfyUI answered /object_info."""
        store = Store(self.db_path)
        try:
            store.put_node_catalog(NodeCatalog(file_inputs=file_inputs))
        finally:
            store.close()


def started(tmp: Path, **env: str) -> Iterator[Api]:
    db_path = str(tmp / "jobs.db")
    with running_server(db_path, **env) as server:
        yield Api(server, db_path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from started(tmp_path_factory.mktemp("policy"))


@pytest.mark.parametrize("name", ATTACKS)
def test_a_file_name_outside_the_jobs_own_is_refused_naming_node_and_input(server: Api, name: str) -> None:
    response = server.post({"workflow": load(name)})
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["node_id"], body["class_type"], body["input"]) == ("1", "LoadImage", "image")
    assert "node 1 (LoadImage) input 'image'" in body["detail"]


@pytest.mark.parametrize(("class_type", "key"), [("LoadImageMask", "image"), ("LoadImageOutput", "image"),
                                                 ("LoadVideo", "file"), ("LoadAudio", "audio"),
                                                 ("LoadLatent", "latent"),
                                                 ("LoadImageSetFromFolderNode", "folder")])
def test_every_core_file_loader_is_checked_before_the_catalog_is_known(server: Api, class_type: str,
                                                                       key: str) -> None:
    response = server.post({"workflow": load("/etc/passwd", class_type, key)})
    assert response.status_code == 400 and response.json()["input"] == key, response.text


def test_names_inside_lists_and_dicts_are_checked_and_links_are_refused(server: Api) -> None:
    flow = load(["a.png", "../b.png"], "LoadImageSetNode", "images")
    assert server.post({"workflow": flow}).status_code == 400
    flow = load({"image": "ok.png", "mask": "/etc/x.png", "recording": ""}, "Load3D", "image")
    assert server.post({"workflow": flow}).json()["input"] == "image"
    flow = load(["9", 0])
    flow["9"] = {"class_type": "PrimitiveString", "inputs": {"value": "/srv/secret.png"}}
    response = server.post({"workflow": flow})
    assert response.status_code == 400 and response.json()["input"] == "image", response.text


def test_the_jobs_own_images_and_plain_shared_names_are_accepted(server: Api) -> None:
    own = {"workflow": load("own.png"),
           "images": [{"name": "own.png", "image": base64.b64encode(PNG).decode()}]}
    assert server.post(own).status_code == 200
    for name in ("shared.png", "photo 1 (2).png", "été.webp", "x[1].png"):
        response = server.post({"workflow": load(name)})
        assert response.status_code == 200, (name, response.text)


def test_a_catalog_written_by_an_executor_is_used_without_a_restart(server: Api) -> None:
    """A custom node whose input carries an upload flag is checked once an executor stored the catalog."""
    flow = load("/srv/secret.bin", "CustomFileLoader", "path")
    assert server.post({"workflow": flow}).status_code == 200  # unknown to the fallback
    server.store_catalog({"CustomFileLoader": ("path",), "LoadImage": ("image",), "ImageInvert": (),
                          "SaveImage": ()})
    response = server.post({"workflow": flow})
    assert response.status_code == 400 and response.json()["class_type"] == "CustomFileLoader", response.text



# --- NODE_DENYLIST / NODE_ALLOWLIST ------------------------------------------------------------------------


def test_a_denied_node_type_is_refused_naming_node_id_and_type(tmp_path: Path) -> None:
    for api in started(tmp_path, NODE_DENYLIST=" PythonEval , ImageInvert"):
        response = api.post({"workflow": load("a.png")})
        assert response.status_code == 400, response.text
        body = response.json()
        assert (body["node_id"], body["class_type"]) == ("2", "ImageInvert") and "input" not in body
        assert "node 2 (ImageInvert)" in body["detail"] and "NODE_DENYLIST" in body["detail"]
        flow = load("a.png")
        del flow["2"]
        flow["3"]["inputs"]["images"] = ["1", 0]
        assert api.post({"workflow": flow}).status_code == 200


def test_an_allowlist_refuses_installed_unlisted_types_and_leaves_unknown_ones_to_comfyui(tmp_path: Path) -> None:
    for api in started(tmp_path, NODE_ALLOWLIST="LoadImage,SaveImage"):
        unlisted = load("a.png")  # ImageInvert is not listed
        unknown = {**load("a.png"), "2": {"class_type": "NotInstalled", "inputs": {"image": ["1", 0]}}}
        response = api.post({"workflow": unlisted})
        assert response.status_code == 400 and response.json()["class_type"] == "ImageInvert", response.text
        assert "NODE_ALLOWLIST" in response.json()["detail"]
        assert api.post({"workflow": unknown}).status_code == 400  # nothing known yet: refused to be safe
        api.store_catalog({"LoadImage": ("image",), "ImageInvert": (), "SaveImage": ()})
        assert api.post({"workflow": unlisted}).status_code == 400
        assert api.post({"workflow": unknown}).status_code == 200  # not installed: ComfyUI's error, as before


# --- the whole daemon, with the fake ComfyUI -----------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")
def test_the_daemon_refuses_foreign_files_and_runs_own_and_shared_ones(tmp_path: Path) -> None:
    d = RunningDaemon(tmp_path)
    try:
        d.start()
        d.wait_ready()
        check_refusals_and_allowed_files(d, timeout=30)
        assert d.events("node_catalog_read"), "the executor read /object_info"
    finally:
        d.close()
