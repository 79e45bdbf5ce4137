"""Monitoring: /health (open even with API keys: then its details need a key) and /stats."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from transports.bodies import HealthBody, StatsBody
from transports.http.clients import Caller
from transports.http.controllers.responses import errors
from transports.service import JobService

Service = NamedDependency[JobService]

RecentLimit = Annotated[int, QueryParameter(ge=1, le=1000, description="how many recent jobs")]


class SystemController(Controller):
    tags = ["monitoring"]

    @get("/health", sync_to_thread=False, opt={"public": True}, security=[{}],
         responses={503: ResponseSpec(HealthBody, description="unhealthy", generate_examples=False)})
    def health(self, service: Service, details: NamedDependency[bool],
               warnings: NamedDependency[list[str]]) -> Response[HealthBody]:
        """Job counts and the components' states; 503 when the store is unreadable or a component is down.

        With API_KEY set, a caller without a valid key gets the status only (same HTTP status).
        ``warnings`` lists what the operator should fix though it does not make the service unhealthy."""
        body = service.health()
        if warnings:
            body = msgspec.structs.replace(body, warnings=warnings)
        code = HTTP_200_OK if body.status == "healthy" else HTTP_503_SERVICE_UNAVAILABLE
        return Response(body if details else HealthBody(status=body.status), status_code=code)

    @get("/stats", sync_to_thread=False, responses=errors(400, 401, 403))
    def stats(self, service: Service, caller: NamedDependency[Caller], include_recent: FromQuery[bool] = False,
              limit: RecentLimit = 10) -> StatsBody:
        """Job counts per status, and per client (a user's key: its own); the newest jobs too with
        ``include_recent=true`` (a user's key: its own)."""
        return service.stats(include_recent, limit, caller.owner)
