"""The figures read from the store at each scrape: jobs by status and the oldest pending one's age, the
components' states and restarts, the store's size and free disk, and every counter and histogram the processes
keep in the store (store/figures.py). A bounded number of small reads (counts kept by triggers, one index step,
tables of a row per name and label set): the scrape costs the same whatever the history."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from config.logging import get_logger
from store import JobStatus, Store
from store.figures import HELP, Snapshot

# what a component's state may be (supervisor/states.py): each is a series, 1 for the current state
COMPONENT_STATES = ("stopped", "starting", "running", "backoff", "stopping", "exited", "fatal")

PREFIX = "comfyui_worker_"


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class StoreCollector:
    """Reads through ``store()`` (the event loop's Store while the app runs), on the scraping thread."""

    def __init__(self, store: Callable[[], Store], clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.failed = False  # log a failure to read once per episode

    def collect(self) -> Iterator[Metric]:
        readable = GaugeMetricFamily(PREFIX + "store_readable", "1 when the store could be read for this scrape")
        try:
            families = list(self._read(self.store()))
        except Exception as exc:  # the scrape still answers: the store's figures are absent, readable 0
            if not self.failed:
                get_logger().warning("metrics_store_unreadable", error=f"{type(exc).__name__}: {exc}")
            self.failed = True
            families = []
        else:
            self.failed = False
        readable.add_metric([], 1 if families else 0)
        yield readable
        yield from families

    def _read(self, store: Store) -> Iterator[Metric]:
        yield from self._jobs(store)
        yield from self._components(store)
        yield from self._space(store)
        yield from self._kept(store.figures())

    def _jobs(self, store: Store) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(PREFIX + "jobs", "Jobs in the store by status", labels=["status"])
        counts = store.stats()
        for status in JobStatus:
            jobs.add_metric([str(status)], counts[str(status)])
        yield jobs
        oldest = store.oldest_pending_at()
        yield GaugeMetricFamily(PREFIX + "oldest_pending_job_age_seconds",
                                "Age of the oldest pending job (0 when none is pending)",
                                value=0 if oldest is None else max(0.0, self.clock() - oldest))

    def _components(self, store: Store) -> Iterator[Metric]:
        state = GaugeMetricFamily(PREFIX + "component_state", "1 for each component's current state "
                                  "(supervisor, comfyui-<i>, executor-<i>, http)", labels=["component", "state"])
        restarts = CounterMetricFamily(PREFIX + "component_restarts", "Restarts of each component since the "
                                       "daemon started", labels=["component"])
        for component in store.components():
            for name in (*COMPONENT_STATES, *(() if component.state in COMPONENT_STATES else (component.state,))):
                state.add_metric([component.name, name], 1 if component.state == name else 0)
            restarts.add_metric([component.name], component.restarts)
        yield state
        yield restarts

    def _space(self, store: Store) -> Iterator[Metric]:
        space = store.space()
        for name, text, value in (
            ("store_size_bytes", "Size of the store's database file", space.store_bytes),
            ("store_used_bytes", "The store's size without its free pages (what STORE_MAX_MB limits)",
             space.store_used_bytes),
            ("store_room_bytes", "What the store can still take: free pages plus the disk room it may grow by",
             space.room_bytes),
            ("disk_free_bytes", "Free space on the disk of the store", space.disk_free_bytes),
            ("store_min_free_bytes", "MIN_FREE_DISK_MB: below this much room new jobs are refused",
             store.min_free_bytes),
        ):
            yield GaugeMetricFamily(PREFIX + name, text, value=value)

    def _kept(self, snapshot: Snapshot) -> Iterator[Metric]:
        """The counters and histograms every process keeps in the store, a family per name."""
        counters: dict[str, CounterMetricFamily] = {}
        for counter in snapshot.counters:
            keys = sorted(counter.labels)
            family = counters.get(counter.name) or counters.setdefault(counter.name, CounterMetricFamily(
                counter.name, HELP.get(counter.name, counter.name), labels=keys))
            family.add_metric([counter.labels[k] for k in keys], counter.value)
        histograms: dict[str, HistogramMetricFamily] = {}
        for hist in snapshot.histograms:
            keys = sorted(hist.labels)
            family_h = histograms.get(hist.name) or histograms.setdefault(hist.name, HistogramMetricFamily(
                hist.name, HELP.get(hist.name, hist.name), labels=keys))
            family_h.add_metric([hist.labels[k] for k in keys], [(_le(le), n) for le, n in hist.buckets],
                                hist.sum)
        yield from counters.values()
        yield from histograms.values()
