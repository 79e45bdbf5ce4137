"""RunPod mode applies the same workflow policy: a workflow reading a file it did not bring, or using a node type
the operator denied, fails with a message naming the node (and input); no job is written. The whole daemon,
the SDK's local API in front, the fake ComfyUI behind."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runpod.daemon import ServerlessDaemon, Webhook
from tests.workflow_attacks import invert, plant, png, wait_catalog

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServerlessDaemon]:
    hook = Webhook()
    d = ServerlessDaemon(tmp_path, hook, NODE_DENYLIST="PythonEval,ImageBlur")
    try:
        d.start()
        d.wait_ready()
        yield d
    finally:
        d.close()
        hook.close()


def test_foreign_files_and_denied_nodes_fail_and_a_shared_file_runs(daemon: ServerlessDaemon) -> None:
    wait_catalog(daemon, 30)
    for name in plant(daemon):
        answer = daemon.post("/runsync", {"input": {"workflow": invert(name)}}).json()
        assert answer["status"] == "FAILED", (name, answer)
        assert "node 1 (LoadImage) input 'image'" in answer["error"], answer
    denied = invert("a.png")
    denied["2"]["class_type"] = "ImageBlur"
    answer = daemon.post("/runsync", {"input": {"workflow": denied}}).json()
    assert answer["status"] == "FAILED" and "node 2 (ImageBlur)" in answer["error"], answer
    assert daemon.jobs() == {}, "a refused request writes no job"
    (Path(daemon.env["DATA_DIR"]) / "comfyui-0" / "input" / "shared.png").write_bytes(png(0x102030))
    answer = daemon.post("/runsync", {"input": {"workflow": invert("shared.png")}}).json()
    assert answer["status"] == "COMPLETED" and answer["output"]["images"], answer
