"""The registry /metrics renders: one per app, to which any part of the transport adds a collector.

A later feature adds figures in one of two ways: kept in the store (any process: ``Store.count`` /
``Store.observe``, described in ``store.figures.HELP``; they show up here with no change), or measured in this
process (a ``prometheus_client`` metric created with ``registry=metrics.registry``, or a collector given to
``Metrics.add``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.registry import Collector

# the text format every Prometheus reads (Litestar adds "; charset=utf-8")
CONTENT_TYPE = "text/plain; version=0.0.4"

# no `_created` series beside each counter and histogram: twice the series for nothing
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        # no auto-describe: a collector's collect() (store reads) runs once per scrape, never at registration
        self.registry = CollectorRegistry(auto_describe=False)

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        """The text exposition of every figure (collectors run now, on the calling thread)."""
        return generate_latest(self.registry)
