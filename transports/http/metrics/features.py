"""Figures of the features that keep their own tables: webhook deliveries (store/outbox.py), the watchdog's,
memory hygiene's and backups' actions (store/operations.py), jobs per client (store/clients.py) and per place
they ran (store/remote.py: local, or a RunPod endpoint through the overflow forwarder). Read from
the store at each scrape, like store_figures; each is a few small reads whatever the history (the operations
table has a row per action name, the per-client counts one index scan of a covering index)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from store import JobStatus, Store, WarmupState
from store.operations import OPERATIONS  # every action, reported from 0 so rate() sees its first
from transports.http.metrics.store_figures import PREFIX


class FeatureCollector:
    def __init__(self, store: Callable[[], Store]) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            store = self.store()
            families = [*self._webhooks(store), *self._operations(store), *self._clients(store),
                        *self._places(store), *self._warmups(store)]
        except Exception:  # StoreCollector reports an unreadable store (store_readable 0)
            return
        yield from families

    def _webhooks(self, store: Store) -> Iterator[Metric]:
        figures = store.webhook_figures()
        for name, text, value in (
            ("webhooks_delivered", "Webhook deliveries a receiver accepted (2xx)", figures.delivered),
            ("webhook_failed_attempts", "Webhook attempts that failed (error, timeout, non-2xx)",
             figures.failed_attempts),
            ("webhooks_given_up", "Webhook deliveries that ended undelivered (410, or older than WEBHOOK_MAX_AGE_S)",
             figures.given_up),
        ):
            yield CounterMetricFamily(PREFIX + name, text, value=value)
        yield GaugeMetricFamily(PREFIX + "webhook_backlog", "Webhook deliveries waiting to be sent",
                                value=figures.backlog)
        yield GaugeMetricFamily(PREFIX + "webhook_oldest_pending_age_seconds",
                                "Age of the oldest webhook delivery waiting (0 when none)",
                                value=figures.oldest_pending_age_s)

    def _operations(self, store: Store) -> Iterator[Metric]:
        done = store.operations()
        total = CounterMetricFamily(PREFIX + "operations", "Actions of the watchdog, memory hygiene and scheduled "
                                    "backups", labels=["operation"])
        last = GaugeMetricFamily(PREFIX + "operation_last_timestamp_seconds", "When each action last happened "
                                 "(unix time; absent before the first)", labels=["operation"])
        for name in sorted({*OPERATIONS, *done}):
            total.add_metric([name], done[name].count if name in done else 0)
            if name in done:
                last.add_metric([name], done[name].last_at)
        yield total
        yield last

    def _clients(self, store: Store) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(PREFIX + "client_jobs", "Jobs in the store by client (named API key) and status",
                                 labels=["client", "status"])
        for client, counts in sorted(store.counts_by_owner().items()):
            for status in JobStatus:
                jobs.add_metric([client, str(status)], counts.get(str(status), 0))
        yield jobs

    def _places(self, store: Store) -> Iterator[Metric]:
        places = store.places()
        running = GaugeMetricFamily(PREFIX + "place_running_jobs", "Jobs running now by where they run (local "
                                    "executors, runpod: the overflow forwarder)", labels=["place"])
        ended = CounterMetricFamily(PREFIX + "place_jobs", "Jobs that ended by where they ran and outcome",
                                    labels=["place", "outcome"])
        for place in sorted({"local", *places}):
            counts = places.get(place, {})
            running.add_metric([place], counts.get("running", 0))
            for outcome in ("completed", "failed", "cancelled"):
                ended.add_metric([place, outcome], counts.get(outcome, 0))
        yield running
        yield ended

    def _warmups(self, store: Store) -> Iterator[Metric]:
        """WARMUP_WORKFLOW: each instance's warm-up state, runs, failures and the last one's duration. The runs
        and failures count since the daemon started (the table is cleared at start: a counter reset)."""
        warmups = store.warmups()
        state = GaugeMetricFamily(PREFIX + "warmup_state", "1 for each ComfyUI instance's warm-up state",
                                  labels=["instance", "state"])
        runs = CounterMetricFamily(PREFIX + "warmup_runs", "Warm-ups started", labels=["instance"])
        failures = CounterMetricFamily(PREFIX + "warmup_failures", "Warm-ups that failed", labels=["instance"])
        duration = GaugeMetricFamily(PREFIX + "warmup_duration_seconds", "How long the last finished warm-up "
                                     "took", labels=["instance"])
        for warm in warmups:
            instance = str(warm.instance)
            for name in WarmupState:
                state.add_metric([instance, str(name)], 1 if warm.state is name else 0)
            runs.add_metric([instance], warm.runs)
            failures.add_metric([instance], warm.failures)
            if warm.duration_s is not None:
                duration.add_metric([instance], warm.duration_s)
        yield from (state, runs, failures, duration)
