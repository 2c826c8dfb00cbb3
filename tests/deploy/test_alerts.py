"""Prometheus's alert rules and configs, checked and unit-tested with promtool.

``promtool`` comes with Debian's ``prometheus`` package (``.ci/run`` installs it when missing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from conveyor.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/prometheus"
CONFIGS = ["prometheus.yml", "prometheus-dev.yml"]
ALERTS: dict[str, Any] = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
RULES = [rule for group in ALERTS["groups"] for rule in group["rules"]]
TARGET_LABELS = {"job", "instance", "component"}
"""Labels Prometheus attaches to every series: its own and the scrape configs' static ones."""


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.fail("promtool is not installed: apt-get install prometheus (.ci/run does)")
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _metric_labels() -> dict[str, set[str]]:
    """Series name -> its label names, for every metric the services declare."""
    series: dict[str, set[str]] = {}
    for metric in vars(Metrics()).values():
        if not isinstance(metric, Counter | Gauge | Histogram):
            continue
        # prometheus_client has no public accessor for a metric's label names.
        labels = set(metric._labelnames)
        name = metric._name
        if isinstance(metric, Counter):
            series[f"{name}_total"] = labels
        elif isinstance(metric, Histogram):
            series[f"{name}_bucket"] = labels | {"le"}
            series[f"{name}_count"] = series[f"{name}_sum"] = labels
        else:
            series[name] = labels
    return series


def test_promtool_accepts_both_prometheus_configs_and_the_rules_they_load() -> None:
    result = _promtool("check", "config", *CONFIGS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS: 1 rule files found") == len(CONFIGS)
    assert f"SUCCESS: {len(RULES)} rules found" in result.stdout


def test_the_alert_rules_pass_their_promtool_unit_tests() -> None:
    result = _promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_fail_when_a_rule_stops_firing(tmp_path: Path) -> None:
    # The test above could pass vacuously; a raised threshold must break it.
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    raised = rules.replace("> 1000", "> 100000", 1)
    assert raised != rules
    (tmp_path / "alerts.yml").write_text(raised, encoding="utf-8")
    shutil.copy(PROMETHEUS / "alerts.test.yml", tmp_path)

    result = _promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)

    assert result.returncode != 0
    assert "ConveyorQueueBacklog" in result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text(encoding="utf-8"))
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert tested == {rule["alert"] for rule in RULES}


def test_every_metric_and_label_an_alert_names_is_one_the_services_export() -> None:
    exported = _metric_labels()
    for rule in RULES:
        expr = rule["expr"]
        names = re.findall(r"\bconveyor_[a-z_]+", expr)
        assert names or "up{" in expr, f"{rule['alert']} names no Conveyor metric"
        labels = set(TARGET_LABELS)
        for name in names:
            assert name in exported, f"{rule['alert']}: {name} is not exported by any service"
            labels |= exported[name]
        for selector in re.findall(r"\bconveyor_[a-z_]+\{([^}]*)\}", expr):
            used = set(re.findall(r"([a-z_]+)\s*[=!]~?", selector))
            assert used <= labels, f"{rule['alert']}: no label {used - labels} on its metric"
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            used = {label.strip() for label in grouping.split(",")}
            assert used <= labels, f"{rule['alert']}: no label {used - labels} to group by"


def test_no_scrape_label_collides_with_a_metric_label() -> None:
    # A clash makes Prometheus rename the metric's own label to exported_<name>.
    metric_labels = set().union(*_metric_labels().values())
    for config in CONFIGS:
        scrape = yaml.safe_load((PROMETHEUS / config).read_text(encoding="utf-8"))
        for job in scrape["scrape_configs"]:
            for static in job["static_configs"]:
                assert set(static.get("labels", {})) <= TARGET_LABELS - metric_labels, config
