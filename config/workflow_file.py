"""A workflow read from a file named by a setting (WARMUP_WORKFLOW): read and checked once, at start.

The file holds an API-format workflow (ComfyUI's *Save (API)*), or a request body around one (``{"workflow":
...}``, RunPod's ``{"input": {"workflow": ...}}``), as ``comfyui-worker submit`` takes. A file that cannot be used
raises :class:`WorkflowFileError`, whose message says why in one line.
"""

from __future__ import annotations

import json
import os
from typing import Any

MAX_BYTES = 16 * 1024 * 1024  # a workflow is kilobytes; this is not a file to hold images


class WorkflowFileError(ValueError):
    """The workflow file cannot be used."""


def _unwrap(body: dict[str, Any]) -> dict[str, Any]:
    if isinstance(body.get("input"), dict):
        body = body["input"]
    if isinstance(body.get("workflow"), dict):
        if body.get("images"):
            raise WorkflowFileError("it carries input images: a warm-up workflow may only read files already "
                                    "in ComfyUI's input folder")
        return body["workflow"]  # type: ignore[no-any-return]
    return body


def check_nodes(workflow: dict[str, Any]) -> None:
    """A non-empty object of nodes, each with a ``class_type`` string and an ``inputs`` object."""
    if not workflow:
        raise WorkflowFileError("the workflow has no nodes")
    if isinstance(workflow.get("nodes"), list) and "links" in workflow:
        raise WorkflowFileError("this is ComfyUI's UI format (nodes and links): export it with Save (API)")
    for node_id, node in workflow.items():
        if not isinstance(node, dict):
            raise WorkflowFileError(f"node {node_id!r} is not an object with 'class_type' and 'inputs'")
        class_type = node.get("class_type")
        if not isinstance(class_type, str) or not class_type:
            raise WorkflowFileError(f"node {node_id!r} has no 'class_type' string")
        if not isinstance(node.get("inputs"), dict):
            raise WorkflowFileError(f"node {node_id!r} ({class_type}) has no 'inputs' object")


def load_workflow(path: str) -> dict[str, Any]:
    """The API-format workflow in ``path``; raises WorkflowFileError naming what is wrong."""
    if os.path.exists(path) and not os.path.isfile(path):  # a folder, or a FIFO that would block the start
        raise WorkflowFileError("it is not a regular file")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise WorkflowFileError(f"cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise WorkflowFileError(f"it is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WorkflowFileError(f"it is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise WorkflowFileError("it must hold a JSON object: an API-format workflow {node id: {class_type, inputs}}")
    workflow = _unwrap(body)
    check_nodes(workflow)
    return workflow
