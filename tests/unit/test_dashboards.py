"""The Grafana dashboards: the committed JSON is what the module writes, every query names only
metrics the flows define (with the suffix their type gives them), and the layout holds.
tests/integration/test_dashboards.py evaluates every query on a real Prometheus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from omnichannel import dashboards, metrics
from omnichannel.dashboards import DASHBOARDS, DASHBOARDS_DIR, Dashboard

KINDS = {
    "Counter": "counter",
    "CounterMetricFamily": "counter",
    "Gauge": "gauge",
    "GaugeMetricFamily": "gauge",
    "BatchHistogram": "histogram",
}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def defined_metrics() -> dict[str, str]:
    """Every metric family omnichannel/metrics.py defines, read from its source, and its type."""
    source = Path(metrics.__file__).read_text(encoding="utf-8")
    found = re.findall(r"\b(" + "|".join(KINDS) + r')\(\s*"(omni_[a-z_]+)"', source)
    return {name: KINDS[kind] for kind, name in found}


def served_names() -> set[str]:
    """The sample names the flows' /metrics carry for those families."""
    return {name + s for name, kind in defined_metrics().items() for s in SUFFIXES[kind]}


def named_in(expression: str) -> set[str]:
    return set(re.findall(r"\bomni_[a-z_]+", expression))


def test_the_source_is_read_right() -> None:
    registered = {f.name: f.type for f in REGISTRY.collect() if f.name.startswith("omni_")}
    defined = defined_metrics()
    assert registered.items() <= defined.items()
    # The Redis read model's, collected only once a sink exists.
    assert defined["omni_read_model_outages"] == "counter"
    assert defined["omni_read_model_pending_keys"] == "gauge"


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_committed_json_is_what_the_module_writes(dashboard: Dashboard) -> None:
    committed = DASHBOARDS_DIR / dashboard.file_name
    assert committed.read_text(encoding="utf-8") == dashboard.json(), (
        f"{committed} is stale: run `python -m omnichannel.dashboards write`"
    )


def test_write_puts_every_dashboard_in_the_folder(tmp_path: Path) -> None:
    dashboards.main(["write", "--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in DASHBOARDS_DIR.glob("*.json")
    )


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_queries_name_only_metrics_the_flows_serve(dashboard: Dashboard) -> None:
    served = served_names()
    for panel in dashboard.panels:
        for target in panel.targets:
            names = named_in(target.expr)
            assert names, f"{panel.title}: {target.expr} names no flow metric"
            assert names <= served, f"{panel.title}: {sorted(names - served)} are not served"
            assert 'namespace=~"$namespace"' in target.expr, panel.title
            # A default would hide a series the flows fail to serve: they serve it at 0.
            assert "vector(" not in target.expr, panel.title


def test_the_dashboards_cover_what_the_issue_asks() -> None:
    named = {d.uid: set().union(*(named_in(e) for e in d.expressions())) for d in DASHBOARDS}
    assert named["omni-flow-health"] >= {
        "omni_consumer_lag_records",
        "omni_events_in_total",
        "omni_events_out_total",
        "omni_exceptions_total",
        "omni_broker_outages_total",
        "omni_broker_unreachable_seconds",
        "omni_source_stalls_total",
        "omni_read_model_outages_total",
    }
    assert named["omni-business"] >= {
        "omni_order_aging_seconds_bucket",
        "omni_postings_failed_total",
        "omni_refund_mismatches_total",
        "omni_reconciliation_gap",
        "omni_reconciliation_backlog_windows",
        "omni_availability_latency_seconds_bucket",
        "omni_posting_delay_seconds_bucket",
        "omni_anomalies_total",
    }


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_panels_are_laid_out_without_overlap(dashboard: Dashboard) -> None:
    model = json.loads(dashboard.json())
    assert model["uid"] == dashboard.uid
    assert [p["id"] for p in model["panels"]] == list(range(1, len(model["panels"]) + 1))
    taken: set[tuple[int, int]] = set()
    for panel in model["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        assert panel["description"], panel["title"]
        assert [t["refId"] for t in panel["targets"]] == ["A", "B"][: len(panel["targets"])]
    variables = {v["name"] for v in model["templating"]["list"]}
    assert variables == {"datasource", "namespace"}
