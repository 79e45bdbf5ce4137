"""docs/grafana-dashboard.json: every query names metrics a real daemon's /metrics has, and is PromQL a real
Prometheus accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring.conftest import METRICS_KEY
from tests.monitoring.prometheus import running_prometheus
from tests.supervisor.harness import ROOT, RunningDaemon

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
METRIC = re.compile(r"\bcomfyui_worker_[a-zA-Z0-9_]+")
# what Grafana replaces before it sends a query
GRAFANA_VARIABLES = {"$instance": ".*", "$__rate_interval": "1m"}


def queries(node: Any) -> list[str]:
    """Every PromQL text of the dashboard: panel targets' ``expr`` and the variables' queries."""
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("definition"), str):
            found.append(node["definition"])
        return found + [q for value in node.values() for q in queries(value)]
    if isinstance(node, list):
        return [q for value in node for q in queries(value)]
    return []


def exposed(exposition: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_every_dashboard_query_names_metrics_that_exist(exposition: str) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    texts = queries(dashboard)
    assert len(texts) >= 20
    used = {name for text in texts for name in METRIC.findall(text)}
    assert len(used) >= 15
    assert used - exposed(exposition) == set()
    covered = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("queue", "per second", "p95", "failed", "restarts", "disk"):
        assert topic in covered, topic


def test_every_dashboard_query_is_promql_prometheus_accepts(daemon: RunningDaemon, tmp_path: Path) -> None:
    with running_prometheus(tmp_path, daemon.url.removeprefix("http://"), bearer=METRICS_KEY) as prom:
        prom.wait_value('up{job="comfyui-worker"}', 1)
        for text in queries(json.loads(DASHBOARD.read_text())):
            for variable, value in GRAFANA_VARIABLES.items():
                text = text.replace(variable, value)
            if text.startswith("label_values("):  # Grafana's own function over a series selector
                assert prom.query(text.removeprefix("label_values(").split(",")[0]), text
                continue
            prom.query(text)  # asserts Prometheus answered "success"
