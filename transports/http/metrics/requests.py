"""HTTP requests of this process by route, method and status, and their latency.

The route is the matched route's template (``/status/{job_id}``), never the raw path: a client chooses the
path, so labelling by it would let anyone create series without bound. A request no route matched is
``unmatched``; a method other than the usual ones is ``other``. Statuses are the app's own (100-599)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.registry import CollectorRegistry

from transports.http.metrics.store_figures import PREFIX

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# long polls (/status?wait=, /runsync) answer after up to 300 s
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def route_of(scope: Mapping[str, Any]) -> str:
    """The template of the route that handled the request (set by Litestar's router), else ``unmatched``."""
    template = scope.get("path_template") if "route_handler" in scope else None
    return template if isinstance(template, str) and template else UNMATCHED


def method_of(method: str) -> str:
    return method if method in METHODS else "other"


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(PREFIX + "http_requests", "HTTP requests answered, by route template, method "
                                "and status", ["route", "method", "status"], registry=registry)
        self.latency = Histogram(PREFIX + "http_request_duration_seconds", "Time from a request's arrival to the "
                                 "end of its answer, by route template and method", ["route", "method"],
                                 registry=registry, buckets=BUCKETS)

    def observe(self, scope: Mapping[str, Any], method: str, status: int, seconds: float) -> None:
        route, verb = route_of(scope), method_of(method)
        self.requests.labels(route, verb, str(status)).inc()
        self.latency.labels(route, verb).observe(seconds)
