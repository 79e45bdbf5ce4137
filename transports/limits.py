"""Limits on what one job may ask of ComfyUI, checked at submit so a hostile request never reaches it.

- Input files (``store/media.py``): pixels per image (one frame) and in all images of the request (every frame
  counted: ComfyUI's LoadImage decodes each into float32 RGB, about 12 bytes a pixel plus the mask), from the
  headers alone; bytes per video and audio file. The executor checks fetched inputs with the same code.
- Inputs by reference (``store/sources.py``): where a URL or ``s3://`` entry may point.
- The workflow: how deeply its JSON nests (the executor copies it, ComfyUI walks it; both recurse) and how
  many nodes it has.
- File names a workflow asks ComfyUI to write (``filename_prefix`` and any input named like a file name):
  ComfyUI cannot serve a file whose name has control characters back (``GET /view`` drops the connection).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from config.settings import Settings
from store import InputImage
from store.media import MB, MediaLimits, MediaRefused
from store.output_keys import bucket_list
from store.sources import InputSources
from transports.errors import InvalidRequest
from transports.images import CONTROL
from transports.output_options import OutputRules


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """The settings' limits (MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS, MAX_VIDEO_MB, MAX_AUDIO_MB,
    MAX_WORKFLOW_DEPTH, MAX_WORKFLOW_NODES) and where inputs by reference may come from (INPUT_*)."""

    max_image_pixels: int
    max_request_pixels: int
    max_workflow_depth: int
    max_workflow_nodes: int
    max_video_bytes: int = int(100 * MB)
    max_audio_bytes: int = int(50 * MB)
    sources: InputSources = InputSources()
    output: OutputRules = OutputRules()  # what a job's `output` may ask (transports.output_options)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_image_pixels=settings.max_image_pixels, max_request_pixels=settings.max_request_pixels,
                   max_workflow_depth=settings.max_workflow_depth,
                   max_workflow_nodes=settings.max_workflow_nodes,
                   max_video_bytes=int(settings.max_video_mb * MB), max_audio_bytes=int(settings.max_audio_mb * MB),
                   sources=InputSources.from_settings(settings), output=_output_rules(settings))

    @property
    def media(self) -> MediaLimits:
        return MediaLimits(max_image_pixels=self.max_image_pixels, max_request_pixels=self.max_request_pixels,
                           max_video_bytes=self.max_video_bytes, max_audio_bytes=self.max_audio_bytes)

    # --- images -------------------------------------------------------------------------------------------

    def check_images(self, images: Iterable[InputImage]) -> None:
        """Each input within its limit, all images' frames together within MAX_REQUEST_PIXELS."""
        try:
            self.media.check_all((image.name, image.data) for image in images)
        except MediaRefused as exc:
            raise InvalidRequest(exc.message, **exc.details) from None

    # --- the workflow -------------------------------------------------------------------------------------

    def check_workflow(self, workflow: Mapping[str, Any]) -> None:
        """Node count, nesting depth, and the file names it asks ComfyUI to write."""
        if len(workflow) > self.max_workflow_nodes:
            raise InvalidRequest(f"the workflow has {len(workflow):,} nodes, more than the "
                                 f"{self.max_workflow_nodes:,} allowed (MAX_WORKFLOW_NODES)",
                                 nodes=len(workflow), max_workflow_nodes=self.max_workflow_nodes)
        depth = nesting_depth(workflow, self.max_workflow_depth)
        if depth > self.max_workflow_depth:
            raise InvalidRequest(f"the workflow nests more than {self.max_workflow_depth} levels deep "
                                 f"(MAX_WORKFLOW_DEPTH)", max_workflow_depth=self.max_workflow_depth)
        for node_id, node in workflow.items():
            for key, value in (node.get("inputs") or {}).items():
                if "filename" in key.lower() and isinstance(value, str) and has_control_chars(value):
                    raise InvalidRequest(
                        f"workflow node {node_id!r} ({node.get('class_type')}) input {key!r} has control "
                        f"characters: {value!r}; ComfyUI could not serve a file of that name back",
                        node_id=node_id, input=key)


def _output_rules(settings: Settings) -> OutputRules:
    return OutputRules(buckets=bucket_list(settings.output_s3_buckets), default_bucket=settings.bucket_name,
                       presign_default_s=settings.bucket_url_expiry_s, presign_max_s=settings.output_presign_max_s)


DEFAULT_LIMITS = Limits.from_settings(Settings())


def nesting_depth(value: Any, limit: int) -> int:
    """How many objects/arrays deep ``value`` nests (a scalar is 0), counted up to ``limit + 1``; iterative."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))
    return deepest


def has_control_chars(text: str) -> bool:
    """Any C0 or C1 control character or DEL (Unicode category Cc)."""
    return CONTROL.search(text) is not None
