"""Node class declarations (copied from the real server's /object_info) joined with their behaviour."""

from __future__ import annotations

import copy
import json
import mimetypes
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .nodes import NODES, Dirs, NodeImpl

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class NodeClass:
    name: str
    info: dict[str, Any]
    impl: NodeImpl

    @property
    def return_types(self) -> tuple:
        return tuple(self.info["output"])

    @property
    def output_node(self) -> bool:
        return bool(self.info["output_node"])

    def inputs(self, category: str) -> dict[str, list]:
        return self.info["input"].get(category, {})

    def input_names(self) -> list[str]:
        return [*self.inputs("required"), *self.inputs("optional")]

    def input_info(self, name: str) -> tuple[Any, str, dict]:
        """(input type, 'required'|'optional', extra info) like ComfyUI's get_input_info."""
        for category in ("required", "optional"):
            if name in self.inputs(category):
                spec = self.inputs(category)[name]
                return spec[0], category, (spec[1] if len(spec) > 1 else {})
        raise KeyError(name)

    def hidden_inputs(self) -> dict[str, str]:
        """input name -> PROMPT | EXTRA_PNGINFO | UNIQUE_ID."""
        hidden = self.inputs("hidden")
        return {k: (v[0] if isinstance(v, list) else v) for k, v in hidden.items()}


@cache
def _object_info() -> dict[str, Any]:
    return json.loads((DATA_DIR / "object_info.json").read_text())


def catalog() -> dict[str, NodeClass]:
    return {name: NodeClass(name, info, NODES[name]) for name, info in _object_info().items()}


def input_images(dirs: Dirs) -> list[str]:
    """Files listed in LoadImage's combo: image files at the top of the input directory."""
    names = [n for n in os.listdir(dirs.input) if (dirs.input / n).is_file()]
    return sorted(n for n in names if (mimetypes.guess_type(n)[0] or "").startswith("image/"))


def object_info(dirs: Dirs) -> dict[str, Any]:
    info = copy.deepcopy(_object_info())
    info["LoadImage"]["input"]["required"]["image"][0] = input_images(dirs)
    return info
