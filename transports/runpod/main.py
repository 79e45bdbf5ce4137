"""``comfyui-worker runpod``: the RunPod serverless transport (``runpod.serverless.start`` with our handler).

Modes, as the SDK picks them: SERVE_API_LOCALLY=true serves the SDK's local test API on API_HOST:API_PORT;
on the platform (RUNPOD_WEBHOOK_GET_JOB set) it takes jobs from RunPod; otherwise it runs ``--test_input`` or
``./test_input.json`` once and exits. Only this module's main() imports ``runpod``.
"""

from __future__ import annotations

import argparse
import sys

from config import lean
from config.logging import configure, get_logger
from config.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--test_input", "--test-input", dest="test_input", default=None, metavar="JSON",
                        help="run this RunPod job (JSON with an 'input') once and exit, as the SDK does")


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("runpod", settings.comfy_log_level)
    log = get_logger()
    from store import Store
    from store.policy import NodeLists
    from store.s3 import make_uploader
    from transports.limits import Limits
    from transports.runpod import sdk
    from transports.runpod.handler import Handler
    from transports.runpod.size import OutputLimit
    from transports.service import JobService

    runpod = sdk.import_runpod()  # ~1 s: only this process pays it
    sdk.adopt_logs(log)
    store = Store.from_settings(settings)
    service = JobService(store, max_images=settings.max_images, max_attempts=settings.job_max_attempts,
                         default_timeout_s=settings.job_timeout_s, poll_interval_s=settings.poll_interval_s,
                         store_wakeup=settings.store_wakeup,
                         node_lists=NodeLists.parse(settings.node_denylist, settings.node_allowlist),
                         limits=Limits.from_settings(settings))
    limit = OutputLimit(settings.runpod_max_output_mb, make_uploader(settings))
    handler = Handler(service, limit, log, send_progress=sdk.progress_sink(runpod),
                      refresh_worker=settings.refresh_worker)
    if settings.serve_api_locally:
        from transports.runpod import local_api

        local_api.limit_request_size(settings.max_request_mb)
        if (warning := local_api.exposure_warning(settings.api_host)) is not None:
            log.warning("runpod_local_api_exposed", detail=warning)
    test_input = getattr(args, "test_input", None)
    sys.argv = [sys.argv[0], *sdk.argv(settings, test_input)]
    log.info("runpod_starting", mode=sdk.mode(settings, test_input), concurrency=sdk.job_capacity(settings),
             host=settings.api_host if settings.serve_api_locally else None,
             port=settings.api_port if settings.serve_api_locally else None, sdk_version=runpod.__version__,
             database_path=settings.sqlite_db_path)
    lean.trim()  # start-up garbage given back before the first job
    try:
        runpod.serverless.start(sdk.config(handler, settings))
    finally:
        store.close()
        log.info("runpod_stopped")
    return 0
