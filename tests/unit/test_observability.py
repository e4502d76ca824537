"""The alert rules and the dashboard under deploy/observability/ name only metrics the code exports: a rule on a
metric nobody registers would never fire, a panel on one would stay empty. Each PromQL expression is parsed
(promql-parser, Prometheus's own grammar) and each metric it selects looked up in prometheus_client's registry
once every module defining metrics is imported."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/observability/prometheus/alerts.yml"
DASHBOARD = ROOT / "deploy/observability/grafana/grid-incidents.json"
# Every module that registers metrics (a new one goes here, or its metrics look unexported).
METRIC_MODULES = (
    "shared.health", "shared.resilience", "shared.metrics",
    "services.intake.service_layer.group_commit",
    "services.supervision.entrypoints.ticker", "services.supervision.entrypoints.metrics",
    "services.notifications.service_layer.handlers",
)
# Series Prometheus makes itself for every target.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
SEVERITIES = {"critical", "warning", "info"}
# Grafana's variables, as a query runs: the range ones as a duration, the others (inside label matchers) as text.
GRAFANA_RANGES = re.compile(r"\$__(rate_interval|interval|range)\b")


def exported() -> set[str]:
    """The series names the registry can produce: a counter `x` as x_total, a histogram as x_bucket/_sum/_count."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                    "summary": ("_sum", "_count", ""), "gauge": ("",), "info": ("_info",)}.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def metrics_of(expr: str) -> set[str]:
    found: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)

    promql_parser.walk(promql_parser.parse(GRAFANA_RANGES.sub("5m", expr)), visit)
    return found


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def dashboard_targets() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                found.append((inner["title"], target["expr"]))
    return found


def test_the_rule_file_is_well_formed():
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names)), "group names must be unique"
    alerts = [rule["alert"] for rule in rules()]
    assert len(alerts) == len(set(alerts)), "alert names must be unique"
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), f"{rule['alert']}: for: {rule['for']!r}"
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_rule_parses_and_names_exported_metrics(rule):
    names = metrics_of(rule["expr"])
    assert names, f"{rule['alert']} selects no metric"
    missing = names - exported() - SYNTHETIC
    assert not missing, f"{rule['alert']} names metrics nobody exports: {sorted(missing)}"


def test_every_dashboard_query_parses_and_names_exported_metrics():
    targets = dashboard_targets()
    assert targets
    known = exported() | SYNTHETIC
    for title, expr in targets:
        names = metrics_of(expr)
        assert names, f"panel {title!r} selects no metric"
        assert names <= known, f"panel {title!r} names metrics nobody exports: {sorted(names - known)}"


def test_the_dashboard_covers_what_the_issue_asks():
    used = set().union(*(metrics_of(expr) for _, expr in dashboard_targets()))
    for name in ("http_requests_total", "http_request_seconds_bucket", "consumer_lag_records",
                 "outbox_oldest_unsent_age_seconds", "consumer_dead_letters",
                 "supervision_threshold_lag_seconds_bucket", "supervision_ticker_overdue_seconds",
                 "notifications_deliveries_total", "supervision_clocks_running"):
        assert name in used, name
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) and board["uid"]


def test_the_checker_sees_a_metric_nobody_exports():
    assert metrics_of('sum(rate(nobody_exports_this_total[5m])) > 0') - exported() == {"nobody_exports_this_total"}


def test_the_local_scrape_configuration_loads_the_rules():
    config = yaml.safe_load((ALERTS.parent / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == [ALERTS.name]
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    from tests.unit.test_deploy_consistency import SETTINGS

    assert targets == [f"127.0.0.1:{SETTINGS[s].model_fields['http_port'].default}"
                       for s in ("intake", "routing", "supervision", "notifications")]
