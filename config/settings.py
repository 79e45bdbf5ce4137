"""The daemon's settings: one frozen object read once from the environment.

Every field is an environment variable of the same name in upper case. Each carries its default and a
one-line description (``Meta(description=...)``); the README's configuration table is checked against them.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Port = Annotated[int, Meta(ge=1, le=65535)]
NonNegInt = Annotated[int, Meta(ge=0)]
PosInt = Annotated[int, Meta(ge=1)]
NonNegFloat = Annotated[float, Meta(ge=0)]
PosFloat = Annotated[float, Meta(gt=0)]
Origins = Annotated[str, Meta(pattern=r"^\s*(\*|https?://[^/,\s]+)\s*(,\s*(\*|https?://[^/,\s]+)\s*)*$",
                              extra={"expected": "comma-separated origins such as https://app.example.com "
                                                 "(scheme://host[:port], no path), or *",
                                     "example": "https://app.example.com, http://localhost:3000"})]
KeyTemplate = Annotated[str, Meta(
    pattern=r"^(?!/)(?!.*\.\.)(?=.*\{filename\})([^{}\x00-\x1f\x7f]|\{(prefix|job_id|filename|index|node_id)\})+$",
    max_length=256,
    extra={"expected": "a key template of {prefix}, {job_id}, {filename} (required), {index}, {node_id} and "
                       "plain characters, without a leading '/' or '..'",
           "example": "renders/{prefix}/{job_id}/{index}-{filename}"})]
EndpointId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                 extra={"expected": "1-64 letters, digits, '-' or '_' (a RunPod endpoint id)"})]
BaseUrl = Annotated[str, Meta(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
                              extra={"expected": "an http(s) URL without query, e.g. https://api.runpod.ai/v2",
                                     "example": "http://127.0.0.1:8000/v2"})]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _d(text: str) -> Meta:
    return Meta(description=text)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # --- the seed's variables -------------------------------------------------------------------------------
    http_api_mode: Annotated[bool, _d("true: HTTP API transport; false: RunPod serverless transport")] = False
    api_host: Annotated[str, _d("address the HTTP API (or the RunPod local API) listens on")] = "0.0.0.0"
    api_port: Annotated[Port, _d("port the HTTP API (or the RunPod local API) listens on")] = 8000
    sqlite_db_path: Annotated[str, _d("the job store (SQLite file; its folder is created if missing)")] = (
        "/tmp/comfyui_jobs.db"
    )
    comfy_log_level: Annotated[LogLevel, _d("log level of every process of the daemon")] = "DEBUG"
    bucket_endpoint_url: Annotated[str | None, _d("S3 endpoint; set = outputs go to S3, not the store")] = None
    websocket_reconnect_attempts: Annotated[NonNegInt, _d("websocket reconnects to ComfyUI before giving up")] = 5
    websocket_reconnect_delay_s: Annotated[NonNegFloat, _d("seconds between websocket reconnect attempts")] = 3.0
    websocket_trace: Annotated[bool, _d("log every websocket frame received from ComfyUI")] = False
    refresh_worker: Annotated[bool, _d("restart ComfyUI after every job (clean state)")] = False

    # --- store ----------------------------------------------------------------------------------------------
    sqlite_synchronous: Annotated[Literal["NORMAL", "FULL"], _d("SQLite synchronous mode (FULL: fsync per commit)")] = (
        "NORMAL"
    )
    sqlite_busy_timeout_ms: Annotated[NonNegInt, _d("how long a write waits for the database lock")] = 5000
    min_free_disk_mb: Annotated[NonNegFloat, _d("room for the store below which new jobs get 507 (0: no floor)")] = (
        1024.0
    )
    store_max_mb: Annotated[NonNegFloat, _d("store size past which the oldest finished jobs' outputs are removed "
                                            "(0: no cap)")] = 10240.0
    store_reserve_mb: Annotated[NonNegFloat, _d("file kept next to the store, released so cleanup works on a "
                                                "full disk (0: none)")] = 64.0

    # --- ComfyUI --------------------------------------------------------------------------------------------
    comfyui_path: Annotated[str | None, _d("folder holding ComfyUI's main.py: the supervisor starts it")] = None
    comfyui_url: Annotated[str | None, _d("URL of a ComfyUI run by someone else (nothing is spawned)")] = None
    comfyui_python: Annotated[str | None, _d("interpreter that runs ComfyUI (default: the daemon's own)")] = None
    comfyui_port: Annotated[Port, _d("port of the first spawned ComfyUI (instance i listens on port + i)")] = 8188
    comfyui_args: Annotated[str, _d("extra ComfyUI command-line flags (shell-split)")] = ""
    comfyui_instances: Annotated[PosInt, _d("ComfyUI processes (one per GPU), each with its own executor")] = 1
    comfyui_gpu_ids: Annotated[str | None, _d("comma-separated CUDA_VISIBLE_DEVICES per instance (default 0..N-1)")] = (
        None
    )
    data_dir: Annotated[str, _d("folder for ComfyUI's input/output/temp directories")] = "/tmp/comfyui-worker"
    comfyui_input_dir: Annotated[str | None, _d("ComfyUI's local input folder (job inputs removed after a job)")] = (
        None
    )
    comfyui_output_dir: Annotated[str | None, _d("ComfyUI's local output folder (outputs read, then deleted)")] = (
        None
    )
    comfyui_startup_timeout_s: Annotated[PosFloat, _d("how long ComfyUI may take to answer its first probe")] = 600.0
    comfyui_probe_interval_s: Annotated[PosFloat, _d("seconds between ComfyUI readiness probes")] = 2.0
    comfyui_hang_timeout_s: Annotated[PosFloat, _d("a ComfyUI not answering its probe this long is restarted")] = (
        60.0
    )
    comfy_org_api_key: Annotated[str | None, _d("Comfy.org API key passed to ComfyUI for API nodes")] = None

    # --- executor -------------------------------------------------------------------------------------------
    worker_id: Annotated[str | None, _d("executor id recorded on claimed jobs (default host-pid)")] = None
    job_max_attempts: Annotated[PosInt, _d("runs of a job before a ComfyUI crash fails it")] = 3
    job_timeout_s: Annotated[PosFloat, _d("default per-job deadline in seconds (a request may override it)")] = 3600.0
    pipeline_depth: Annotated[PosInt, _d("jobs queued in ComfyUI at once per executor (1 with REFRESH_WORKER)")] = 2
    heartbeat_interval_s: Annotated[PosFloat, _d("seconds between heartbeats of a running job")] = 2.0
    heartbeat_stale_s: Annotated[PosFloat, _d("a running job without heartbeat this long is recovered")] = 30.0
    progress_throttle_s: Annotated[NonNegFloat, _d("min. seconds between a job's progress writes (and to its 1st)")] = (
        0.5
    )
    poll_interval_s: Annotated[PosFloat, _d("safety-net poll: seconds between store checks of a waiting process "
                                            "when no wake-up came (the only way without STORE_WAKEUP)")] = 0.5
    store_wakeup: Annotated[bool, _d("wake waiting processes after each store commit (a Unix datagram); "
                                     "false: they poll every POLL_INTERVAL_S")] = True
    include_temp_outputs: Annotated[bool, _d("also return temp outputs (PreviewImage)")] = False
    shutdown_grace_s: Annotated[NonNegFloat, _d("on SIGTERM, how long running jobs may finish before requeue")] = 30.0
    warmup_workflow: Annotated[str | None, _d("workflow file (API format) each ComfyUI runs after every start, "
                                              "before its executor claims a job (loads its models)")] = None

    # --- S3 -------------------------------------------------------------------------------------------------
    bucket_access_key_id: Annotated[str | None, _d("S3 access key id")] = None
    bucket_secret_access_key: Annotated[str | None, _d("S3 secret access key")] = None
    bucket_name: Annotated[str, _d("S3 bucket for outputs")] = "comfyui-outputs"
    bucket_prefix: Annotated[str, _d("key prefix for outputs (key: prefix/job_id/filename)")] = ""
    bucket_region: Annotated[str | None, _d("S3 region")] = None
    bucket_url_expiry_s: Annotated[PosInt, _d("lifetime of presigned output URLs")] = 3600
    bucket_public_url: Annotated[str | None, _d("base URL for public output URLs instead of presigned ones")] = None

    # --- inputs by reference (images[].image as a URL or s3://) ---------------------------------------------
    input_url_allow_private: Annotated[bool, _d("input URLs may name loopback, private and link-local "
                                                "addresses")] = False
    input_url_allowed_hosts: Annotated[str, _d("comma-separated hosts (or .domains) input URLs may name; "
                                               "empty: any public host")] = ""
    input_s3_buckets: Annotated[str, _d("comma-separated buckets s3:// inputs may read; empty: BUCKET_NAME "
                                        "when BUCKET_ENDPOINT_URL is set, else none")] = ""
    input_url_max_mb: Annotated[PosFloat, _d("most MB fetched for one job: all its URL and s3:// inputs "
                                             "together")] = 100.0
    input_url_timeout_s: Annotated[PosFloat, _d("time limit of fetching one input (redirects included)")] = 30.0
    input_url_retries: Annotated[NonNegInt, _d("tries again of a fetch that failed transiently (timeout, 5xx) "
                                               "before the job is requeued")] = 2
    input_url_retry_delay_s: Annotated[NonNegFloat, _d("wait before the first try again of a fetch; doubles each "
                                                       "time")] = 1.0

    # --- where and how outputs are delivered (a job's `output` field) ---------------------------------------
    output_s3_buckets: Annotated[str, _d("comma-separated buckets a job may name in output.s3 (empty: per-job "
                                         "destinations refused, 400)")] = ""
    output_key_template: Annotated[KeyTemplate, _d("S3 key of each output: {prefix}, {job_id}, {filename}, "
                                                   "{index}, {node_id}; must hold {filename}")] = (
        "{prefix}/{job_id}/{filename}"
    )
    output_presign_max_s: Annotated[PosInt, _d("longest presigned URL a job may ask for (output.s3.presign)")] = (
        7 * 86400
    )
    inline_output_max_mb: Annotated[NonNegFloat, _d("outputs larger than this are left out of /status and "
                                                    "/runsync: a download URL instead (0: always inline)")] = 20.0

    # --- HTTP transport -------------------------------------------------------------------------------------
    api_key: Annotated[str | None, _d("set: every route but /health needs this bearer key")] = None
    admin_api_key: Annotated[str | None, _d("set: /admin/* needs this key instead")] = None
    metrics_api_key: Annotated[str | None, _d("set: /metrics needs this bearer key (else open, like /health)")] = None
    api_keys_file: Annotated[str | None, _d("TOML/JSON file of named client keys (re-read when it changes)")] = None
    key_default_requests_per_second: Annotated[PosInt | None, _d("a named key's request rate unless it sets "
                                                                   "its own (429 beyond)")] = None
    key_default_max_pending: Annotated[NonNegInt | None, _d("a named key's most pending jobs unless it sets its "
                                                            "own (429 beyond)")] = None
    key_default_max_priority: Annotated[int | None, _d("a named key's highest job priority unless it sets its "
                                                       "own (429 beyond)")] = None
    key_default_max_request_mb: Annotated[PosFloat | None, _d("a named key's largest request in MB unless it "
                                                              "sets its own (429 beyond)")] = None
    max_request_mb: Annotated[PosFloat, _d("request body limit in MB (413 beyond)")] = 100.0
    max_queue_depth: Annotated[NonNegInt, _d("pending jobs at which /run and /runsync answer 429 (0: no limit)")] = 0
    max_images: Annotated[NonNegInt, _d("most input images in one request")] = 32
    max_image_pixels: Annotated[PosInt, _d("most pixels of one input image (a frame), from its header")] = (
        8192 * 8192
    )
    max_request_pixels: Annotated[PosInt, _d("most pixels of all input images of a request, every frame")] = (
        4 * 8192 * 8192
    )
    max_video_mb: Annotated[PosFloat, _d("largest input video (MP4, WebM) in MB")] = 100.0
    max_audio_mb: Annotated[PosFloat, _d("largest input audio file (WAV, MP3, FLAC, Ogg) in MB")] = 50.0
    max_workflow_depth: Annotated[PosInt, _d("deepest nesting of objects/arrays in a workflow")] = 64
    max_workflow_nodes: Annotated[PosInt, _d("most nodes in one workflow")] = 5000
    cors_allow_origins: Annotated[Origins | None, _d("browser origins allowed to call the API (list, or *)")] = (
        None
    )
    http_header_timeout_s: Annotated[PosFloat, _d("a request whose headers take longer is closed (408)")] = 10.0
    http_body_timeout_s: Annotated[PosFloat, _d("a request body must progress within each window this long (408)")] = (
        10.0
    )
    http_body_min_rate: Annotated[NonNegInt, _d("bytes/s a request body must average over each window")] = 1024
    v2_endpoint_id: Annotated[EndpointId | None, _d(
        "RunPod-style routes /v2/{endpoint_id}/...: set, only this id is served (another is 404); unset, any")] = None
    http_max_connections: Annotated[PosInt, _d("open connections at most; beyond, the oldest slow/idle is closed")] = (
        8192
    )

    # --- workflow policy (checked at submit and again by the executor) --------------------------------------
    node_denylist: Annotated[str, _d("comma-separated node class types that never run (400 at submit)")] = ""
    node_allowlist: Annotated[str, _d("comma-separated node class types; set = only these run (400 at submit)")] = ""

    # --- webhooks (issue 13) ------------------------------------------------------------------------------
    webhook_url: Annotated[str | None, _d("default webhook URL of every job that names none")] = None
    webhook_secret: Annotated[str | None, _d("Standard Webhooks signing secret (whsec_ + base64); unset: unsigned")] = (
        None
    )
    webhook_allow_private: Annotated[bool, _d("let webhooks reach loopback, private and link-local addresses")] = (
        False
    )
    webhook_timeout_s: Annotated[PosFloat, _d("one webhook attempt's time limit (connect to answer)")] = 10.0
    webhook_max_age_s: Annotated[PosFloat, _d("an event undelivered this long after it happened is given up")] = (
        86400.0
    )
    webhook_retry_base_s: Annotated[PosFloat, _d("wait after a webhook's first failed attempt (doubles each try)")] = (
        5.0
    )
    webhook_retry_max_s: Annotated[PosFloat, _d("longest wait between two webhook attempts (Retry-After too)")] = (
        3600.0
    )
    webhook_concurrency: Annotated[PosInt, _d("webhook attempts in flight at once")] = 16
    webhook_progress_interval_s: Annotated[PosFloat, _d("job.progress events at most this often per job")] = 5.0
    webhook_inline_outputs_mb: Annotated[NonNegFloat, _d("outputs inlined in a webhook body up to this total; "
                                                         "the rest as download URLs")] = 1.0
    public_base_url: Annotated[str | None, _d("the API's public URL (https://host[:port]): webhook download URLs "
                                              "are absolute under it (unset: paths)")] = None

    # --- supervisor -----------------------------------------------------------------------------------------
    restart_backoff_max_s: Annotated[PosFloat, _d("cap of the restart backoff of a crashed child")] = 30.0
    restart_max_failures: Annotated[PosInt, _d("failures within RESTART_WINDOW_S that make a child fatal")] = 5
    restart_window_s: Annotated[PosFloat, _d("window in which child failures are counted")] = 300.0
    stop_timeout_s: Annotated[PosFloat, _d("after SIGTERM, seconds before a child gets SIGKILL")] = 10.0
    cleanup_interval_s: Annotated[PosFloat, _d("seconds between cleanups and stuck-job resets")] = 3600.0
    cleanup_max_age_hours: Annotated[NonNegFloat, _d("terminal jobs older than this are deleted")] = 24.0
    stuck_max_running_hours: Annotated[NonNegFloat, _d(
        "hourly stuck-job reset: a job running this long past its own deadline is stopped (live executor) "
        "or requeued (stale heartbeat)")] = 2.0
    recovery_interval_s: Annotated[PosFloat, _d("seconds between stale-heartbeat recoveries")] = 5.0

    # --- watchdog, memory and backups (README "Watchdog, memory and backups") --------------------------------
    interrupt_grace_s: Annotated[PosFloat, _d("a prompt still running this long after its interrupt (cancel, "
                                              "deadline), or a ComfyUI silent this long under a job: restarted")] = (
        30.0
    )
    comfyui_max_rss_mb: Annotated[NonNegFloat, _d("a spawned ComfyUI whose RSS passes this is restarted between "
                                                  "two jobs (0: no limit)")] = 0.0
    comfyui_max_vram_mb: Annotated[NonNegFloat, _d("a ComfyUI whose GPU memory in use (/system_stats) passes this "
                                                   "is restarted between two jobs (0: no limit)")] = 0.0
    backup_dir: Annotated[str | None, _d("set: the daemon backs the store up into this folder")] = None
    backup_interval_s: Annotated[PosFloat, _d("seconds between scheduled backups (with BACKUP_DIR)")] = 3600.0
    backup_keep: Annotated[PosInt, _d("scheduled backups kept in BACKUP_DIR (older ones removed once a new one "
                                      "passed its integrity check)")] = 24

    # --- RunPod transport -----------------------------------------------------------------------------------
    serve_api_locally: Annotated[bool, _d("RunPod mode: serve the SDK's local test API on API_HOST:API_PORT")] = False
    runpod_max_output_mb: Annotated[PosFloat, _d("RunPod mode: largest result returned inline")] = 10.0

    # --- overflow to a RunPod endpoint (the forwarder) ------------------------------------------------------
    runpod_overflow_endpoint_id: Annotated[EndpointId | None, _d(
        "set: a forwarder runs jobs the overflow policy picks on this RunPod endpoint; unset: never")] = None
    runpod_overflow_base_url: Annotated[BaseUrl, _d("RunPod's endpoint API (another daemon's /v2 works too)")] = (
        "https://api.runpod.ai/v2"
    )
    runpod_api_key: Annotated[str | None, _d("RunPod API key (the forwarder's Authorization; the RunPod SDK's)")] = (
        None
    )
    runpod_overflow_queue_depth: Annotated[NonNegInt | None, _d(
        "overflow when more than this many jobs are pending (unset: not by depth)")] = None
    runpod_overflow_wait_s: Annotated[NonNegFloat | None, _d(
        "overflow a job that has waited this long for a local executor (unset: not by age)")] = None
    runpod_overflow_max_jobs: Annotated[PosInt, _d("jobs the forwarder runs on RunPod at once")] = 4
    runpod_overflow_local_first_s: Annotated[NonNegFloat, _d(
        "a job is never forwarded this soon after its submit: an idle local executor claims it first")] = 0.2
    runpod_overflow_poll_s: Annotated[PosFloat, _d("seconds between status polls of a job on RunPod")] = 1.0
    runpod_overflow_http_timeout_s: Annotated[PosFloat, _d("timeout of each request to RunPod's API")] = 30.0


class SettingsError(Exception):
    """A variable of the environment has a value the daemon cannot use."""

    def __init__(self, variable: str, value: str, expected: str) -> None:
        self.variable, self.value, self.expected = variable, value, expected
        super().__init__(f"invalid setting {variable}={value!r}: expected {expected}")


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def env_name(field: str) -> str:
    return field.upper()


def fields() -> tuple[msgspec.inspect.Field, ...]:
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    return info.fields


def describe(field: msgspec.inspect.Field) -> str:
    """The one-line description of a settings field."""
    t = field.type
    if isinstance(t, msgspec.inspect.Metadata) and t.extra_json_schema:
        return str(t.extra_json_schema.get("description", ""))
    return ""


def expected_text(t: msgspec.inspect.Type) -> str:
    """What a value of this type must look like, in words."""
    if isinstance(t, msgspec.inspect.Metadata):
        return str((t.extra or {}).get("expected") or expected_text(t.type))
    if isinstance(t, msgspec.inspect.UnionType):
        return " or ".join(expected_text(x) for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
    if isinstance(t, msgspec.inspect.BoolType):
        return "a boolean (true/false/1/0/yes/no)"
    if isinstance(t, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(map(str, t.values))
    if isinstance(t, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        kind = "an integer" if isinstance(t, msgspec.inspect.IntType) else "a number"
        bounds = [f"{op} {v}" for op, v in ((">=", t.ge), (">", t.gt), ("<=", t.le), ("<", t.lt)) if v is not None]
        return kind + (" " + " and ".join(bounds) if bounds else "")
    return "a string"


def _is_bool(t: msgspec.inspect.Type) -> bool:
    return isinstance(t.type if isinstance(t, msgspec.inspect.Metadata) else t, msgspec.inspect.BoolType)


def _convert(field: msgspec.inspect.Field, raw: str) -> Any:
    value: Any = raw
    if _is_bool(field.type):
        low = raw.strip().lower()
        if low not in _TRUE | _FALSE:
            raise SettingsError(env_name(field.name), raw, expected_text(field.type))
        return low in _TRUE
    inner = field.type.type if isinstance(field.type, msgspec.inspect.Metadata) else field.type
    if isinstance(inner, msgspec.inspect.LiteralType):  # choices (log level, synchronous) ignore case
        value = raw.strip().upper()
    try:
        return msgspec.convert({field.name: value}, _ONE_FIELD[field.name], strict=False)[field.name]
    except msgspec.ValidationError:
        raise SettingsError(env_name(field.name), raw, expected_text(field.type)) from None


_ONE_FIELD = {
    name: dict[str, hint]  # type: ignore[valid-type]
    for name, hint in typing.get_type_hints(Settings, include_extras=True).items()
}


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from the environment; raise SettingsError on the first bad value.

    An empty variable counts as unset for optional strings (so ``BUCKET_ENDPOINT_URL=`` means no S3).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in fields():
        raw = environ.get(env_name(field.name))
        if raw is None or (raw == "" and not field.required and field.default is None):
            continue
        values[field.name] = _convert(field, raw)
    return Settings(**values)
