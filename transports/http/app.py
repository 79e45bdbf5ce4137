"""``create_app(settings)``: the HTTP transport's Litestar app. It reads and writes only the store.

The store's apsw connection belongs to the event-loop thread: it is opened in the lifespan, and every
handler that touches it runs on the loop (``sync_to_thread=False``; store calls take well under a ms).
Work that may take longer has its own connection on its own thread: cleanup (a Store of its own) and large
outputs (a BlobReader per response, transports.streaming). Waiters share one watcher (transports.watcher).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from config import lean
from config.logging import get_logger
from config.settings import Settings
from store import Store
from store.policy import NodeLists
from transports.exposure import open_api_warnings
from transports.http.auth import api_key_guard, caller_of, on_the_loop, sees_details
from transports.http.browsers import allowed_origins, cors_config, json_guard, origin_guard
from transports.http.clients import Caller, KeyRing
from transports.http.controllers.admin import AdminController
from transports.http.controllers.jobs import JobsController
from transports.http.controllers.runpod_api import RunPodController
from transports.http.controllers.system import SystemController
from transports.http.errors import error_response
from transports.http.quotas import Quotas
from transports.limits import Limits
from transports.service import JobService

_MB = 1024 * 1024


def _openapi(settings: Settings) -> OpenAPIConfig:
    keyed = bool(settings.api_key or settings.admin_api_key or settings.api_keys_file)
    return OpenAPIConfig(
        title="comfyui-worker",
        version="1",
        description="A durable job service around ComfyUI: submit workflows, poll or wait, fetch outputs.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin()],
        components=Components(security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer",
                                     description="API_KEY, ADMIN_API_KEY or a key of API_KEYS_FILE"),
            "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
        }) if keyed else Components(),
        security=[{"bearer": []}, {"apiKey": []}] if keyed else None,
    )


def _warn_if_open(settings: Settings) -> None:
    log = get_logger()
    if not settings.api_key and not settings.api_keys_file:
        log.warning("api_open", detail="API_KEY is not set: every route is open to anyone who can reach it")
    if not settings.admin_api_key and not settings.api_key and not settings.api_keys_file:
        log.warning("admin_api_open", detail="ADMIN_API_KEY is not set: /admin/* is open")


def create_app(settings: Settings, *, freeze_gc: bool = False) -> Litestar:
    """The app; ``freeze_gc`` (the server process) moves start-up objects out of the collector's sight,
    so full collections stay short and do not show up in tail latency."""
    services: list[JobService] = []  # the one service of this app, while its lifespan runs

    def provide_service() -> JobService:
        return services[0]

    @asynccontextmanager
    async def store_lifespan(app: Litestar) -> AsyncIterator[None]:
        store = Store.from_settings(settings)
        app.state.service = JobService(store, max_images=settings.max_images,
                                       max_attempts=settings.job_max_attempts,
                                       default_timeout_s=settings.job_timeout_s,
                                       poll_interval_s=settings.poll_interval_s,
                                       store_wakeup=settings.store_wakeup,
                                       node_lists=NodeLists.parse(settings.node_denylist, settings.node_allowlist),
                                       heartbeat_stale_s=settings.heartbeat_stale_s,
                                       limits=Limits.from_settings(settings),
                                       open_store=lambda: Store.from_settings(settings, migrate_schema=False))
        services.append(app.state.service)
        if freeze_gc:
            lean.trim()  # collects, and gives start-up garbage back to the system
            gc.freeze()
        get_logger().info("http_store_opened", database_path=settings.sqlite_db_path)
        try:
            yield
        finally:
            services.clear()
            await app.state.service.close()
            store.close()

    ring = KeyRing(settings)  # raises KeysFileError for a bad API_KEYS_FILE

    def provide_details(request: Request[Any, Any, Any]) -> bool:  # /health's details, for whom
        return sees_details(request, ring)

    def provide_caller(request: Request[Any, Any, Any]) -> Caller:
        return caller_of(request)

    key_guard = api_key_guard(ring, Quotas())
    origins = allowed_origins(settings.cors_allow_origins)
    warnings = open_api_warnings(settings.api_host, settings.api_key or settings.api_keys_file,
                                 settings.admin_api_key)
    _warn_if_open(settings)
    return Litestar(
        route_handlers=[JobsController, SystemController, AdminController, RunPodController],
        state=State({"v2_endpoint_id": settings.v2_endpoint_id}),
        lifespan=[store_lifespan],
        dependencies={
            "service": Provide(provide_service, sync_to_thread=False),
            "details": Provide(provide_details, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
            "warnings": Provide(lambda: warnings, sync_to_thread=False, use_cache=True),
        },
        guards=[on_the_loop(origin_guard(origins), key_guard, json_guard)],
        cors_config=cors_config(origins),
        exception_handlers={Exception: error_response},
        request_max_body_size=int(settings.max_request_mb * _MB),
        openapi_config=_openapi(settings),
        logging_config=None,
        debug=False,
    )
