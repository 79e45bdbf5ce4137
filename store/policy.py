"""Which workflows may run: the operator's node lists, and what a node's file-naming inputs may name.

The contract between the transports (checked at submit, ``400``) and the executors (checked again before
ComfyUI sees the job, ``invalid_input``). Pure: no SQL, no ComfyUI protocol. Which inputs name files comes
from ComfyUI's ``/object_info`` (read by the executor, kept in the store as a :class:`NodeCatalog`);
``FALLBACK_FILE_INPUTS`` stands in for it until it is known, and is merged into it.

The rule for a file-naming input: a string may name only one of the job's own ``images[]``, or a plain file
name of the operator's shared input folder (no ``/``, ``\\``, ``..``, trailing ``[annotation]``, control
characters, not empty). The job's own images live in ``jobs/<job id>/`` (the executor rewrites the names
after this check), so another job's inputs can never be named. A link ``[node_id, index]`` into a
file-naming input is refused: a node whose output is typed "any" passes ComfyUI's type check there and skips
its file validation, so its string could name any file. Messages never depend on whether a file exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec

# Core ComfyUI (0.3.64) nodes that read files named by an input: used until the executor has read
# /object_info, and merged into what it read (some of these carry no ``*_upload`` flag there).
FALLBACK_FILE_INPUTS: dict[str, tuple[str, ...]] = {
    "LoadImage": ("image",),
    "LoadImageMask": ("image",),
    "LoadImageOutput": ("image",),
    "LoadImageSetNode": ("images",),
    "LoadImageSetFromFolderNode": ("folder",),  # a sub-folder of the input folder, e.g. jobs/<another job>
    "LoadImageTextSetFromFolderNode": ("folder",),
    "LoadVideo": ("file",),
    "LoadAudio": ("audio",),
    "RecordAudio": ("audio",),
    "WebcamCapture": ("image",),
    "LoadLatent": ("latent",),  # VALIDATE_INPUTS replaces its combo check: any annotated path passes
    "Load3D": ("model_file", "image"),  # ``image`` is a dict of paths (image, mask, normal, ...)
    "Load3DAnimation": ("model_file", "image"),
}


class NodeCatalog(msgspec.Struct, frozen=True):
    """The node classes a ComfyUI has installed -> the names of their inputs that name files."""

    file_inputs: dict[str, tuple[str, ...]]

    def installed(self, class_type: str) -> bool:
        return class_type in self.file_inputs


class PolicyViolation(Exception):
    """A workflow the operator's policy does not allow; ``details`` name the node (and the input)."""

    def __init__(self, message: str, *, node_id: str, class_type: str, input_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = {"node_id": node_id, "class_type": class_type}
        if input_name is not None:
            self.details["input"] = input_name


def _names(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


class NodeLists(msgspec.Struct, frozen=True):
    """NODE_DENYLIST and NODE_ALLOWLIST: class types never run; when ``allow`` is given, only those run."""

    deny: frozenset[str] = frozenset()
    allow: frozenset[str] | None = None

    @classmethod
    def parse(cls, denylist: str = "", allowlist: str = "") -> NodeLists:
        """Comma-separated class types (exact, case-sensitive); an empty list means no restriction."""
        return cls(deny=_names(denylist), allow=_names(allowlist) or None)


def is_plain_file_name(name: str) -> bool:
    """A file directly in the shared input folder: no path, no annotation, nothing unprintable."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or ".." in name:
        return False
    if name.rstrip().endswith("]"):  # ComfyUI reads "x.png [output]" (and [input], [temp]) from elsewhere
        return False
    return not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name)


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def _has_link(value: Any) -> bool:
    """Whether a link hides anywhere in an input value (itself, or inside a list or dict)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if _is_link(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _strings(value: Any) -> Iterator[str]:
    """The file names an input value holds: itself, or the strings inside a list or dict (Load3D's image
    is a dict of paths, LoadImageSetNode may take a list); a link names no file. Iterative: any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(v for v in item.values() if v != "")  # "" = no file (Load3D's empty recording)
        elif isinstance(item, list) and not _is_link(item):
            stack.extend(item)


def _show(name: str) -> str:
    return repr(name if len(name) <= 120 else name[:120] + "...")


class WorkflowPolicy(msgspec.Struct, frozen=True):
    """The node lists plus the catalog (None: not read from ComfyUI yet, the fallback applies)."""

    lists: NodeLists = NodeLists()
    catalog: NodeCatalog | None = None

    def file_inputs(self, class_type: str) -> tuple[str, ...]:
        if self.catalog is not None and self.catalog.installed(class_type):
            return self.catalog.file_inputs[class_type]
        return FALLBACK_FILE_INPUTS.get(class_type, ())

    def check(self, workflow: Mapping[str, Any], own_images: Iterable[str]) -> None:
        """Raise PolicyViolation for the first node that may not run or names a file it may not read."""
        own = frozenset(name for name in own_images if is_plain_file_name(name))  # theirs are checked too
        for node_id, node in workflow.items():
            if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
                continue  # not a node: the transport refuses it, ComfyUI would
            self._check_node(str(node_id), node["class_type"], node.get("inputs"), own)

    def _check_node(self, node_id: str, class_type: str, inputs: Any, own: frozenset[str]) -> None:
        self._check_type(node_id, class_type)
        if not isinstance(inputs, Mapping):
            return
        for input_name in self.file_inputs(class_type):
            if _has_link(inputs.get(input_name)):
                raise PolicyViolation(
                    f"node {node_id} ({class_type}) input {input_name!r} is a link: a file-naming input must "
                    f"name its file itself (another node's output could name any file on the host)",
                    node_id=node_id, class_type=class_type, input_name=input_name)
            for name in _strings(inputs.get(input_name)):
                if name not in own and not is_plain_file_name(name):
                    raise PolicyViolation(
                        f"node {node_id} ({class_type}) input {input_name!r} names {_show(name)}: a workflow "
                        f"may read only its own images or a plain file name of the shared input folder "
                        f"(no '/', '\\', '..', '[annotation]' or control characters)",
                        node_id=node_id, class_type=class_type, input_name=input_name)

    def _check_type(self, node_id: str, class_type: str) -> None:
        lists = self.lists
        if class_type in lists.deny:
            raise PolicyViolation(f"node {node_id} ({class_type}) is not allowed on this server "
                                  f"(NODE_DENYLIST)", node_id=node_id, class_type=class_type)
        if lists.allow is None or class_type in lists.allow:
            return
        if self.catalog is not None and not self.catalog.installed(class_type):
            return  # not installed: ComfyUI's own validation error says so, as without a list
        raise PolicyViolation(f"node {node_id} ({class_type}) is not allowed on this server "
                              f"(not in NODE_ALLOWLIST)", node_id=node_id, class_type=class_type)


OPEN = WorkflowPolicy()  # no node lists, no catalog yet: the file-name rule with the fallback catalog
