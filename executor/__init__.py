"""The executor: runs jobs. Its modules are the only part of the daemon that speaks ComfyUI's protocol; its
sub-package ``remote`` (``comfyui-worker forwarder``, the overflow forwarder) runs jobs on a RunPod endpoint
instead, through RunPod's REST API, and imports none of the ComfyUI half.

Modules, one concept each: ``comfy_client`` (HTTP endpoints), ``socket`` (the one websocket, reconnects),
``protocol`` (frames and history parsed into typed values), ``tracker`` (a prompt's states and edges),
``reconcile`` (history + queue as the truth; stopping a prompt), ``inputs``, ``outputs``, ``storage``
(store blobs or S3), ``errors`` (structured job errors), ``job`` (one job: prepare -> submit -> follow ->
finish), ``loop`` (claiming, pipelining, heartbeats, shutdown), ``main`` (``comfyui-worker executor``).

Choices where the issue left one:

- Cached outputs whose files are gone (trace 43): an identical workflow is served from ComfyUI's cache and
  names the old files; once the executor deleted them (COMFYUI_OUTPUT_DIR), ``/view`` answers 404. Then the
  executor sends ``POST /free {"free_memory": true}`` (resets the cache; ComfyUI also unloads models, a cost
  paid only in this case) and runs the same prompt once more, unchanged, so results stay what the workflow
  asks for.
  A second 404 fails the job (``execution``, ``exception_type: output_missing``).
- The deadline (JOB_TIMEOUT_S, or the job's ``timeout_s``) counts from when ComfyUI starts the prompt, so a
  job waiting behind its pipelined predecessor is not charged for it; a prompt that never starts is bounded
  by the same deadline counted from its submission or from when its predecessor left ComfyUI, whichever is
  later.
- Client-chosen ``prompt_id`` (trace 35): registered before ``POST /prompt``, so no frame is missed and a lost
  HTTP answer can still be reconciled.
- Jobs whose prompt ran write their terminal state in claim order; cancels of queued prompts, validation
  failures and requeues do not wait for their predecessor.
- A text/plain HTTP 500 from ``POST /prompt`` (trace 22: a body ComfyUI cannot parse) is a validation failure,
  not an outage: retrying the same body cannot help.
"""
