"""The node catalog from ComfyUI's ``GET /object_info``: every installed class type, and which of its inputs
name files (store/policy.py checks what they may name).

An input names a file when its options carry an upload flag (``image_upload``, ``video_upload``,
``audio_upload``, ``file_upload``, or a custom node's own ``*upload``), or when its type is one of the front
end's file widgets (Load3D's ``LOAD_3D``, ``WEBCAM``, ``AUDIO_RECORD``); core nodes that read files without
either (``LoadLatent``, the training folder loaders) come from ``FALLBACK_FILE_INPUTS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from executor.comfy_client import ComfyClient
from store.policy import FALLBACK_FILE_INPUTS, NodeCatalog

_FILE_WIDGET_TYPES = frozenset({"LOAD_3D", "LOAD_3D_ANIMATION", "WEBCAM", "AUDIO_RECORD"})


def _names_files(spec: Any) -> bool:
    if not isinstance(spec, list | tuple) or not spec:
        return False
    kind, options = spec[0], spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    if isinstance(kind, str) and kind in _FILE_WIDGET_TYPES:
        return True
    return any(isinstance(key, str) and key.endswith("upload") and bool(value) for key, value in options.items())


def _file_inputs(info: Any) -> Iterator[str]:
    declared = info.get("input") if isinstance(info, Mapping) else None
    if not isinstance(declared, Mapping):
        return
    for section in ("required", "optional"):
        inputs = declared.get(section)
        if isinstance(inputs, Mapping):
            yield from (str(name) for name, spec in inputs.items() if _names_files(spec))


def parse(object_info: Any) -> NodeCatalog:
    """The catalog of a ``GET /object_info`` body; raises ValueError when it is not an object of classes."""
    if not isinstance(object_info, Mapping) or not object_info:
        raise ValueError("GET /object_info did not answer an object of node classes")
    catalog = {}
    for class_type, info in object_info.items():
        names = dict.fromkeys([*_file_inputs(info), *FALLBACK_FILE_INPUTS.get(str(class_type), ())])
        catalog[str(class_type)] = tuple(names)
    return NodeCatalog(file_inputs=catalog)


async def read(client: ComfyClient) -> NodeCatalog:
    """Raises ComfyUnavailable (ComfyUI did not answer) or ValueError (it answered something else)."""
    return parse(await client.object_info())
