"""A job request, as either transport receives it: parsed and validated once, then trusted.

Accepted shapes (the seed's body, and RunPod's wrapper whose ``input`` may also be a JSON string)::

    {"workflow": {...}, "images": [{"name": "a.png", "image": "<base64, data URI, URL or s3://>"}], "priority": 0}
    {"input": {"workflow": {...}, "images": [...]}}
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import Meta

from store import InputImage, WebhookSpec
from store.addresses import AddressRefused
from store.policy import OPEN as OPEN_POLICY
from store.policy import WorkflowPolicy
from store.sources import InputRef, InputSources, is_reference
from transports.errors import InvalidRequest
from transports.images import check_name, decode_image
from transports.limits import DEFAULT_LIMITS, Limits
from transports.output_options import OutputBody, check_output
from transports.webhook_field import WebhookRules, webhook_spec
from transports.workflow_policy import check as check_policy

T = TypeVar("T")

Priority = Annotated[int, Meta(ge=-1_000_000, le=1_000_000, description="higher runs first (default 0)")]
TimeoutS = Annotated[float, Meta(gt=0, le=7 * 86400, description="per-job deadline in seconds")]
Workflow = Annotated[dict[str, Any], Meta(description="ComfyUI API-format workflow: node id -> "
                                                      "{class_type, inputs}")]


class ImageBody(msgspec.Struct, frozen=True):
    """An input file: referenced by ``name`` in the workflow (LoadImage, LoadVideo, LoadAudio)."""

    name: Annotated[str, Meta(description="plain file name, e.g. input.png")]
    image: Annotated[str, Meta(description="base64, data:<type>;base64,..., an http(s):// URL or s3://bucket/key "
                                           "(image: PNG, JPEG, WebP, GIF; video: MP4, WebM; audio: WAV, MP3, "
                                           "FLAC, Ogg)")]


class JobInput(msgspec.Struct, frozen=True, kw_only=True):
    """A job: the workflow, its input images and scheduling options."""

    workflow: Workflow
    images: list[ImageBody] | None = None
    priority: Priority = 0
    timeout_s: TimeoutS | None = None
    comfy_org_api_key: Annotated[str | None, Meta(description="Comfy.org key for API nodes")] = None
    include_temp: Annotated[bool | None, Meta(description="also return temp outputs (PreviewImage)")] = None
    output: Annotated[OutputBody | None, Meta(description="where outputs go (s3) and their image format")] = None


class RunBody(msgspec.Struct, frozen=True, kw_only=True):
    """Body of POST /run and /runsync: a job, or RunPod's ``{"input": <job or its JSON text>}``."""

    workflow: Workflow | None = None
    images: list[ImageBody] | None = None
    priority: Priority | None = None
    timeout_s: TimeoutS | None = None
    comfy_org_api_key: str | None = None
    include_temp: bool | None = None
    output: OutputBody | None = None
    input: Annotated[JobInput | str | None, Meta(description="RunPod-style wrapper of the job")] = None
    webhook: Annotated[str | None, Meta(description="URL that gets the job's events (POST, Standard Webhooks)")] = (
        None
    )
    webhook_events: Annotated[list[str] | None, Meta(description="job.started, job.progress, job.completed, "
                                                                 "job.failed, job.cancelled (default: the last "
                                                                 "three)")] = None


class JobRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated job request, ready for ``Store.create_job``."""

    workflow: dict[str, Any]
    images: tuple[InputImage, ...] = ()
    references: tuple[InputRef, ...] = ()  # fetched by the executor
    priority: int = 0
    timeout_s: float | None = None
    options: dict[str, Any] = {}
    webhook: WebhookSpec | None = None


def _unwrap(body: RunBody) -> JobInput:
    """The job inside a body, whichever shape it came in."""
    if body.input is None:
        if body.workflow is None:
            raise InvalidRequest("the request needs a 'workflow' (or an 'input' holding one)")
        return JobInput(workflow=body.workflow, images=body.images, priority=body.priority or 0,
                        timeout_s=body.timeout_s, comfy_org_api_key=body.comfy_org_api_key,
                        include_temp=body.include_temp, output=body.output)
    if body.workflow is not None or body.images is not None or body.output is not None:
        raise InvalidRequest("give either 'input' or 'workflow'/'images'/'output', not both")
    if isinstance(body.input, str):
        return _decode(body.input, JobInput, "input")
    return body.input


def check_workflow(workflow: Mapping[str, Any]) -> None:
    """A non-empty object of nodes, each with a ``class_type`` string and an ``inputs`` object."""
    if not workflow:
        raise InvalidRequest("'workflow' must be a non-empty object of nodes")
    for node_id, node in workflow.items():
        if not isinstance(node, dict):
            raise InvalidRequest(
                f"workflow node {node_id!r} is not an object with 'class_type' and 'inputs'", node_id=node_id)
        class_type = node.get("class_type")
        if not isinstance(class_type, str) or not class_type:
            raise InvalidRequest(f"workflow node {node_id!r} has no 'class_type' string", node_id=node_id)
        if not isinstance(node.get("inputs"), dict):
            raise InvalidRequest(f"workflow node {node_id!r} ({class_type}) has no 'inputs' object",
                                 node_id=node_id)


def _images(images: list[ImageBody] | None, max_images: int,
            sources: InputSources) -> tuple[tuple[InputImage, ...], tuple[InputRef, ...]]:
    """The entries given inline (decoded) and those given by reference (checked against the sources)."""
    if not images:
        return (), ()
    if len(images) > max_images:
        raise InvalidRequest(f"{len(images)} images given, at most {max_images} allowed",
                             max_images=max_images)
    seen: set[str] = set()
    decoded, refs = [], []
    for index, image in enumerate(images):
        name = check_name(image.name)
        if name in seen:
            raise InvalidRequest(f"image name {name!r} appears twice", image=name)
        seen.add(name)
        if is_reference(image.image):
            try:
                sources.check(image.image)
            except AddressRefused as exc:
                raise InvalidRequest(f"images[{index}].image ({name!r}) {exc}", field=f"images[{index}].image",
                                     image=name) from None
            refs.append(InputRef(index=index, name=name, url=image.image))
        else:
            decoded.append(InputImage(name=name, data=decode_image(name, image.image)))
    return tuple(decoded), tuple(refs)


def validate(body: RunBody, *, max_images: int, limits: Limits = DEFAULT_LIMITS,
             policy: WorkflowPolicy = OPEN_POLICY, webhooks: WebhookRules | None = None) -> JobRequest:
    """Check a decoded body; raises InvalidRequest with a message naming the bad node, image or field.

    ``webhooks``: the rules of the webhook fields, where this transport delivers webhooks (else refused)."""
    job = _unwrap(body)
    if webhooks is None and (body.webhook is not None or body.webhook_events is not None):
        raise InvalidRequest("'webhook' is not available on this transport", field="webhook")
    webhook = webhook_spec(body.webhook, body.webhook_events, webhooks) if webhooks else None
    check_workflow(job.workflow)
    limits.check_workflow(job.workflow)
    check_policy(policy, job.workflow, (image.name for image in job.images or ()))
    images, references = _images(job.images, max_images, limits.sources)
    limits.check_images(images)
    options: dict[str, Any] = {}
    if job.comfy_org_api_key:
        options["comfy_org_api_key"] = job.comfy_org_api_key
    if job.include_temp is not None:
        options["include_temp"] = job.include_temp
    if (output := check_output(job.output, limits.output)) is not None:
        options["output"] = output
    return JobRequest(workflow=job.workflow, images=images, references=references, priority=job.priority,
                      timeout_s=job.timeout_s, options=options, webhook=webhook)


def _carries_images(body: RunBody) -> bool:
    inner = body.input
    return bool(body.images) or isinstance(inner, str) or (inner is not None and bool(inner.images))


async def validate_async(body: RunBody, *, max_images: int, limits: Limits = DEFAULT_LIMITS,
                         policy: WorkflowPolicy = OPEN_POLICY, webhooks: WebhookRules | None = None) -> JobRequest:
    """``validate``, in a worker thread when there are images to decode, so the event loop keeps serving."""
    if _carries_images(body):
        return await asyncio.to_thread(validate, body, max_images=max_images, limits=limits, policy=policy,
                                       webhooks=webhooks)
    return validate(body, max_images=max_images, limits=limits, policy=policy, webhooks=webhooks)


def _decode(raw: bytes | str, kind: type[T], where: str = "body") -> T:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid {where}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"{where} is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"{where} is not valid UTF-8") from None
    except RecursionError:
        raise InvalidRequest(f"{where} is nested too deeply") from None


def parse(raw: bytes | str | Mapping[str, Any], *, max_images: int, limits: Limits = DEFAULT_LIMITS,
          policy: WorkflowPolicy = OPEN_POLICY) -> JobRequest:
    """Decode and validate a job request given as JSON text or as an already-decoded object (RunPod's)."""
    if isinstance(raw, bytes | str):
        body = _decode(raw, RunBody)
    else:
        try:
            body = msgspec.convert(raw, RunBody)
        except msgspec.ValidationError as exc:
            raise InvalidRequest(f"invalid request: {exc}") from None
        except RecursionError:
            raise InvalidRequest("the request is nested too deeply") from None
    return validate(body, max_images=max_images, limits=limits, policy=policy)
