"""Inputs that would hurt ComfyUI are refused at the door: 400 naming the image, node or limit, no job row."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from tests.http.conftest import PNG, WORKFLOW, b64
from tests.http.server import running_server
from tests.image_bytes import gif, jpeg, png, webp_vp8x

SAVE = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "out"}}}


def _refused(client: TestClient[Litestar], store: Store, body: dict[str, Any], *words: str) -> dict[str, Any]:
    response = client.post("/run", json=body)
    assert response.status_code == 400, response.text
    answer: dict[str, Any] = response.json()
    for word in words:
        assert word in answer["detail"], answer
    assert store.stats()["total"] == 0
    return answer


def _with_image(name: str, data: bytes) -> dict[str, Any]:
    return {"workflow": WORKFLOW, "images": [{"name": name, "image": b64(data)}]}


# --- pixels -----------------------------------------------------------------------------------------------

def test_a_ten_thousand_square_png_is_refused_naming_its_size(client: TestClient[Litestar], store: Store) -> None:
    """The issue's 100-megapixel PNG of ~300 KB (ComfyUI would spend 3.3 GB on it)."""
    answer = _refused(client, store, _with_image("big.png", png(10_000, 10_000)),
                      "'big.png'", "10000x10000", "100,000,000 pixels", "67,108,864", "MAX_IMAGE_PIXELS")
    assert (answer["image"], answer["width"], answer["height"]) == ("big.png", 10_000, 10_000)


@pytest.mark.parametrize(("name", "data"), [
    ("uhd.png", png(7680, 4320)),  # 8K UHD
    ("square.png", png(8192, 8192, gray=True)),  # 8K square: exactly the default limit
    ("uhd.jpg", jpeg(7680, 4320)),
    ("uhd.webp", webp_vp8x(7680, 4320)),
])
def test_8k_images_pass_by_default(client: TestClient[Litestar], store: Store, name: str, data: bytes) -> None:
    response = client.post("/run", json=_with_image(name, data))
    assert response.status_code == 200, response.text
    assert store.get_inputs(response.json()["job_id"])[0].data == data


@pytest.mark.parametrize(("name", "data"), [
    ("huge.jpg", jpeg(12_000, 9_000)),
    ("huge.webp", webp_vp8x(16_384, 16_384)),
    ("tiny-screen.gif", gif(1, 1, frame_size=(10_000, 10_000))),  # Pillow grows the canvas to the frame
])
def test_every_format_is_measured(client: TestClient[Litestar], store: Store, name: str, data: bytes) -> None:
    _refused(client, store, _with_image(name, data), f"'{name}'", "MAX_IMAGE_PIXELS")


def test_all_frames_of_all_images_count_against_the_request_limit(client: TestClient[Litestar],
                                                                    store: Store) -> None:
    """5 frames of 8192x8192 (LoadImage decodes every frame) exceed 4 x 8192^2."""
    answer = _refused(client, store, _with_image("anim.png", png(8192, 8192, gray=True, frames=4)),
                      "335,544,320 pixels", "268,435,456", "MAX_REQUEST_PIXELS", "'anim.png'", "5 frames")
    assert answer["max_request_pixels"] == 4 * 8192 * 8192


def test_pixel_limits_come_from_the_settings(make_client: Callable[..., TestClient[Litestar]],
                                             store: Store) -> None:
    client = make_client(max_image_pixels=100, max_request_pixels=150)
    _refused(client, store, _with_image("a.png", png(11, 10)), "'a.png'", "11x10", "100 pixels")
    two = {"workflow": WORKFLOW, "images": [{"name": "a.png", "image": b64(png(10, 10))},
                                            {"name": "b.png", "image": b64(png(8, 8))}]}
    _refused(client, store, two, "164 pixels", "150", "'a.png'")
    assert client.post("/run", json=_with_image("a.png", png(10, 10))).status_code == 200


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 24,  # the magic bytes and nothing else
    png(8, 8)[:30],
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"GIF89a\x01",
])
def test_a_truncated_or_corrupt_header_is_refused(client: TestClient[Litestar], store: Store,
                                                  data: bytes) -> None:
    answer = _refused(client, store, _with_image("in.png", data), "'in.png'", "not a readable")
    assert answer["image"] == "in.png"


# --- image names ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "words"), [
    (".", ("'.'",)),
    ("a\x7fb.png", ("control",)),  # DEL: ComfyUI's multipart parser refuses the upload (500)
    ("a\x1bb.png", ("control",)),  # ESC: the same
    ("a\x85b.png", ("control",)),  # C1
    ("é" * 126 + ".png", ("256 bytes", "255")),  # 130 characters, 256 bytes: ENAMETOOLONG in ComfyUI
    ('"' * 90 + ".png", ("274 bytes",)),  # each " is uploaded as %22
    ("in.png [output]", ("annotation",)),
    ("in.png [temp]", ("annotation",)),
])
def test_image_names_comfyui_cannot_store_are_refused(client: TestClient[Litestar], store: Store, name: str,
                                                      words: tuple[str, ...]) -> None:
    answer = _refused(client, store, _with_image(name, PNG), "image name", *words)
    assert answer["image"] == name


@pytest.mark.parametrize("name", ["a" * 251 + ".png", "é" * 125 + "a.png", "a.b.png", "über (1).png"])
def test_names_within_the_rules_pass(client: TestClient[Litestar], store: Store, name: str) -> None:
    response = client.post("/run", json=_with_image(name, PNG))
    assert response.status_code == 200, response.text


# --- file names a workflow writes ------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["a\r\nb", "x\n", "a\x7f", "a\x01b"])
def test_a_save_prefix_with_control_characters_is_refused(client: TestClient[Litestar], store: Store,
                                                          prefix: str) -> None:
    workflow = json.loads(json.dumps(SAVE))
    workflow["2"]["inputs"]["filename_prefix"] = prefix
    answer = _refused(client, store, {"workflow": workflow}, "node '2'", "SaveImage", "'filename_prefix'",
                      "control")
    assert (answer["node_id"], answer["input"]) == ("2", "filename_prefix")


def test_ordinary_prefixes_pass(client: TestClient[Litestar]) -> None:
    workflow = json.loads(json.dumps(SAVE))
    workflow["2"]["inputs"]["filename_prefix"] = "sub/dir/Ünïcode %width%"
    assert client.post("/run", json={"workflow": workflow}).status_code == 200


# --- the workflow's shape ---------------------------------------------------------------------------------

def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _deep_body(depth: int) -> bytes:
    """A request whose one input nests ``depth`` lists deep (json.dumps itself gives up near 1,000)."""
    return (b'{"workflow": {"1": {"class_type": "X", "inputs": {"deep": ' + b"[" * depth + b"1" + b"]" * depth
            + b"}}}}")


@pytest.mark.parametrize("depth", [62, 600, 900])
def test_a_deeply_nested_workflow_is_refused(client: TestClient[Litestar], store: Store, depth: int) -> None:
    """600-999 levels decode fine, then the executor's deepcopy hits the recursion limit (three times)."""
    response = client.post("/run", content=_deep_body(depth), headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "64 levels" in response.json()["detail"] and "MAX_WORKFLOW_DEPTH" in response.json()["detail"]
    assert response.json()["max_workflow_depth"] == 64
    assert store.stats()["total"] == 0


def test_nesting_within_the_limit_passes(client: TestClient[Litestar]) -> None:
    workflow = {"1": {"class_type": "X", "inputs": {"deep": _nested(61)}}}  # 3 levels above: exactly 64
    assert client.post("/run", json={"workflow": workflow}).status_code == 200


def test_too_many_nodes_are_refused(make_client: Callable[..., TestClient[Litestar]], store: Store) -> None:
    def nodes(n: int) -> dict[str, Any]:
        return {str(i): {"class_type": "X", "inputs": {}} for i in range(n)}

    client = make_client(max_request_mb=5.0)
    answer = _refused(client, store, {"workflow": nodes(5001)}, "5,001 nodes", "5,000", "MAX_WORKFLOW_NODES")
    assert answer["max_workflow_nodes"] == 5000
    assert client.post("/run", json={"workflow": nodes(5000)}).status_code == 200
    small = make_client(max_workflow_nodes=2)
    assert small.post("/run", json={"workflow": nodes(3)}).status_code == 400


# --- bodies that are not UTF-8 ----------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"\xff",
    b'{"workflow": {"1": {"class_type": "\xff", "inputs": {}}}}',
    b'{"workflow": {"1": {"class_type": "X", "inputs": {"a": "\xc3"}}}}',  # a cut two-byte sequence
])
def test_a_body_that_is_not_utf8_is_a_400(client: TestClient[Litestar], store: Store, content: bytes) -> None:
    response = client.post("/run", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "UTF-8" in response.json()["detail"] or "JSON" in response.json()["detail"]
    assert store.stats()["total"] == 0


# --- over real HTTP -------------------------------------------------------------------------------------

def test_refusals_over_real_http_are_400s_without_error_logs(db_path: str) -> None:
    """``comfyui-worker http`` as a process: each refusal is a 400, and nothing is logged at error level."""
    bad_prefix = json.loads(json.dumps(SAVE))
    bad_prefix["2"]["inputs"]["filename_prefix"] = "a\r\nb"
    bodies: list[bytes] = [
        json.dumps(_with_image("big.png", png(10_000, 10_000))).encode(),
        json.dumps(_with_image(".", PNG)).encode(),
        json.dumps({"workflow": bad_prefix}).encode(),
        _deep_body(800),
        b'{"workflow": {"1": {"class_type": "\xff\xfe", "inputs": {}}}}',
    ]
    with running_server(db_path, MAX_REQUEST_MB="2") as server, httpx.Client(base_url=server.url) as http:
        answers = [http.post("/run", content=body, headers={"content-type": "application/json"})
                   for body in bodies]
        assert [a.status_code for a in answers] == [400] * len(bodies), [a.text for a in answers]
        assert "MAX_IMAGE_PIXELS" in answers[0].json()["detail"]
        assert "UTF-8" in answers[-1].json()["detail"]
        assert server.stop() == 0
    records = [json.loads(line) for line in server.lines]
    assert not [r for r in records if r["level"] in ("error", "critical")]
    assert Store(db_path).stats()["total"] == 0
