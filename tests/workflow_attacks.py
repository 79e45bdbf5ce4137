"""Workflows that try to read files a job did not bring, against a whole running daemon (fake or real ComfyUI):
each must be refused at submit, while the job's own images and a plain file of the shared input folder work."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from store import Store
from tests.fake_comfyui.images import Frame, decode_png, encode_png, rgb_from_int
from tests.supervisor.harness import RunningDaemon


def png(color: int, size: int = 8) -> bytes:
    return encode_png(Frame.solid(size, size, rgb_from_int(color)))


def invert(name: str) -> dict[str, Any]:
    """LoadImage(name) -> ImageInvert -> SaveImage."""
    return {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "policy"}}}


def plant(d: RunningDaemon) -> list[str]:
    """Readable PNGs where ComfyUI would find them; returns the names that would read them."""
    root = Path(d.env["DATA_DIR"]) / "comfyui-0"
    other_job = "3f0c2a9e-0000-4000-8000-000000000000"
    files = {
        str(d.tmp / "secret.png"): d.tmp / "secret.png",
        "../../secret.png": root.parent / "secret.png",
        "x.png [output]": root / "output" / "x.png",
        "x.png [temp]": root / "temp" / "x.png",
        f"jobs/{other_job}/in.png": root / "input" / "jobs" / other_job / "in.png",
        "sub\\in.png": root / "input" / "sub\\in.png",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(0x405060))
    return list(files)


def wait_catalog(d: RunningDaemon, timeout: float) -> None:
    def stored() -> bool:
        store = Store(d.db_path)
        try:
            return store.node_catalog() is not None
        finally:
            store.close()

    d.wait_for(stored, timeout, "the executor's node catalog in the store")


def check_refusals_and_allowed_files(d: RunningDaemon, timeout: float) -> None:
    """Every attack gets 400 naming the node and input; own and shared images complete, inverted."""
    wait_catalog(d, timeout)
    for name in plant(d):
        response = d.client.post(f"{d.url}/run", json={"workflow": invert(name)})
        assert response.status_code == 400, (name, response.text)
        body = response.json()
        assert (body["node_id"], body["class_type"], body["input"]) == ("1", "LoadImage", "image"), body
    (Path(d.env["DATA_DIR"]) / "comfyui-0" / "input" / "shared.png").write_bytes(png(0x102030))
    own = {"workflow": invert("own.png"), "images": [{"name": "own.png",
                                                      "image": base64.b64encode(png(0x0A0B0C)).decode()}]}
    ids = []
    for body in (own, {"workflow": invert("shared.png")}):
        response = d.client.post(f"{d.url}/run", json=body)
        assert response.status_code == 200, response.text
        ids.append(response.json()["job_id"])
    d.wait_jobs(ids, {"completed", "failed"}, timeout)
    store = Store(d.db_path)
    try:
        for job_id, color in zip(ids, (bytes((0xF5, 0xF4, 0xF3)), bytes((0xEF, 0xDF, 0xCF))), strict=True):
            job = store.get_job(job_id)
            assert str(job.status) == "completed", job.error
            assert decode_png(store.get_outputs(job_id)[0].data)[0].data[:3] == color
    finally:
        store.close()
