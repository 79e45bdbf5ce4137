"""/metrics: the Prometheus text exposition (open like /health unless METRICS_API_KEY is set)."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from transports.http.controllers.responses import errors
from transports.http.metrics.registry import CONTENT_TYPE, Metrics


class MetricsController(Controller):
    tags = ["monitoring"]

    @get("/metrics", sync_to_thread=False, opt={"public": True, "metrics": True}, media_type=CONTENT_TYPE,
         responses=errors(401))
    def metrics(self, metrics: NamedDependency[Metrics]) -> Response[bytes]:
        """Every process's figures in the Prometheus text format: jobs, their latencies by outcome, retries,
        components, the store's disk, HTTP requests. With METRICS_API_KEY set, only that key may read it."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)
