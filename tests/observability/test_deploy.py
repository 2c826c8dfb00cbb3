"""The committed Prometheus and Grafana files agree with the services and their metrics.

No Docker engine runs here, so this checks what can go wrong silently: a service Prometheus
does not scrape, or a dashboard query naming a metric that no service exports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics_core import Metric

from conveyor.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DASHBOARD: dict[str, Any] = json.loads((DEPLOY / "grafana/dashboards/conveyor.json").read_text())
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def _families() -> list[Metric]:
    return list(Metrics().registry.collect())


def _exported_series() -> dict[str, str]:
    """Series name -> its metric family, for every metric the services can export."""
    return {
        family.name + suffix: family.name
        for family in _families()
        for suffix in _SUFFIXES[family.type]
    }


def _expressions() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]


def _conveyor_services() -> dict[str, Any]:
    return {
        name: service
        for name, service in COMPOSE["services"].items()
        if str(service.get("image", "")).startswith("conveyor/")
        and service["build"]["target"] != "cli"  # the one-shot dataset step serves nothing
    }


def test_every_dashboard_query_names_exported_metrics_and_every_metric_is_shown() -> None:
    series = _exported_series()
    shown: set[str] = set()
    for expr in _expressions():
        names = re.findall(r"\bconveyor_[a-z_]+", expr)
        assert names, f"query without a Conveyor metric: {expr}"
        for name in names:
            assert name in series, f"{name!r} (in {expr!r}) is not exported by any service"
            shown.add(series[name])
    assert shown == {family.name for family in _families()}, "metrics missing from the dashboard"


def test_dashboard_panels_use_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = datasources["datasources"][0]["uid"]
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert all(target["datasource"]["uid"] == uid for target in panel["targets"])
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/conveyor.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    grafana_volumes = COMPOSE["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in grafana_volumes


def test_prometheus_scrapes_every_conveyor_service_on_its_metrics_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    worker_port = COMPOSE["x-conveyor-env"]["CONVEYOR_METRICS_PORT"]
    services = _conveyor_services()
    assert set(services) == {"gateway", "maintenance", "export-worker", "aggregates-worker"}
    for name, service in services.items():
        port = service["environment"].get("CONVEYOR_HTTP_PORT") if name == "gateway" else None
        assert f"{name}:{port or worker_port}" in targets, name
    prometheus = COMPOSE["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus/conveyor:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/conveyor/prometheus.yml" in prometheus["command"]
