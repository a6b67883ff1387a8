"""The Grafana dashboards of the flows, written as typed Python and kept in the repo as JSON.

Two dashboards on the flows' Prometheus metrics (README.md's metrics table): flow health for
SREs (lag, throughput, exceptions, the broker, source stalls, the read model) and business
for finance operations (order aging, failed postings, refund mismatches, reconciliation,
availability latency, ERP posting delay, oversells). Each panel is a few PromQL queries;
this module lays them out and writes Grafana's dashboard model, so a change is reviewed as
a change of queries, not of hand-edited JSON.

`python -m omnichannel.dashboards write` writes them to k8s/base/monitoring/dashboards/, where
kustomize packs them into a ConfigMap that Grafana's dashboard sidecar loads (label
`grafana_dashboard: "1"`). A unit test keeps the committed files equal to what this writes
and checks that every query names only metrics the flows define; an integration test
evaluates every query on a real Prometheus scraping live flows.

Every query filters on the `$namespace` variable (the overlays deploy to their own
namespaces) and reads from the `$datasource` variable's Prometheus. The PodMonitor gives
every series a `flow` label.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from omnichannel.localstack import PROJECT_ROOT

DASHBOARDS_DIR = PROJECT_ROOT / "k8s" / "base" / "monitoring" / "dashboards"
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
PanelKind = Literal["timeseries", "stat"]


def series(metric: str, *matchers: str) -> str:
    """A selector of the metric in the chosen namespaces: `omni_x{namespace=~"$namespace"}`."""
    return metric + "{" + ", ".join(['namespace=~"$namespace"', *matchers]) + "}"


def quantile(q: float, histogram: str, by: str = "", window: str = "$__rate_interval") -> str:
    """The q-quantile of a histogram's observations over the window, per the labels `by`."""
    labels = ", ".join(["namespace", *(label for label in by.split(",") if label), "le"])
    rate = f"rate({series(histogram + '_bucket')}[{window}])"
    return f"histogram_quantile({q}, sum by ({labels}) ({rate}))"


@dataclass(frozen=True)
class Target:
    """One query of a panel and how its series are named in the legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A chart (or a single figure, `stat`) of one or more queries.

    `unit` is Grafana's unit id: `s` seconds, `cps` per second, `short` a plain number.
    """

    title: str
    description: str
    targets: tuple[Target, ...]
    unit: str = "short"
    kind: PanelKind = "timeseries"
    width: int = 12
    height: int = 8

    def model(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        options: dict[str, Any]
        if self.kind == "stat":
            options = {
                "colorMode": "value",
                "graphMode": "area",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": "auto",
            }
        else:
            options = {
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"},
            }
        return {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {"defaults": {"min": 0, "unit": self.unit}, "overrides": []},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": options,
            "targets": [
                {
                    "datasource": DATASOURCE,
                    "expr": target.expr,
                    "legendFormat": target.legend,
                    "range": True,
                    "refId": chr(ord("A") + index),
                }
                for index, target in enumerate(self.targets)
            ],
            "title": self.title,
            "type": self.kind,
        }


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: panels laid out left to right, a new row when one is full."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = ("omnichannel",)
    refresh: str = "30s"
    time_from: str = "now-6h"

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"

    def model(self) -> dict[str, Any]:
        """Grafana's dashboard JSON model."""
        panels, x, y, row_height = [], 0, 0, 0
        for panel_id, panel in enumerate(self.panels, 1):
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append(panel.model(panel_id, x, y))
            x, row_height = x + panel.width, max(row_height, panel.height)
        return {
            "annotations": {"list": []},
            "description": self.description,
            "editable": False,
            "graphTooltip": 1,
            "links": [],
            "panels": panels,
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "tags": list(self.tags),
            "templating": {"list": [_datasource_variable(), _namespace_variable()]},
            "time": {"from": self.time_from, "to": "now"},
            "timezone": "utc",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
        }

    def json(self) -> str:
        return json.dumps(self.model(), indent=2, sort_keys=True) + "\n"

    def expressions(self) -> list[str]:
        return [target.expr for panel in self.panels for target in panel.targets]


def _datasource_variable() -> dict[str, Any]:
    return {
        "hide": 0,
        "label": "Prometheus",
        "name": "datasource",
        "query": "prometheus",
        "refresh": 1,
        "type": "datasource",
    }


def _namespace_variable() -> dict[str, Any]:
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DATASOURCE,
        "definition": "label_values(omni_events_in_total, namespace)",
        "hide": 0,
        "includeAll": True,
        "label": "Namespace",
        "multi": True,
        "name": "namespace",
        "query": {
            "qryType": 1,
            "query": "label_values(omni_events_in_total, namespace)",
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "refresh": 2,
        "sort": 1,
        "type": "query",
    }


OVERSELLS = series("omni_anomalies_total", 'type="oversell"')

FLOW_HEALTH = Dashboard(
    uid="omni-flow-health",
    title="Omnichannel flow health",
    description=(
        "For SREs: is each flow keeping up, what goes in and out, what it refuses, and how the "
        "broker, the sources and the Redis read model behave."
    ),
    panels=(
        Panel(
            "Consumer lag per flow and topic",
            "Records on the broker after each flow's position, summed over partitions. Lag that "
            "keeps growing pages (OmniConsumerLagGrowing); availability behind lets channels "
            "sell stock that is gone.",
            (
                Target(
                    f"sum by (namespace, flow, topic) ({series('omni_consumer_lag_records')})",
                    "{{flow}} {{topic}}",
                ),
            ),
        ),
        Panel(
            "Records in per flow",
            "Input records read a second, per flow and channel.",
            (
                Target(
                    "sum by (namespace, flow, channel) "
                    f"(rate({series('omni_events_in_total')}[$__rate_interval]))",
                    "{{flow}} {{channel}}",
                ),
            ),
            unit="cps",
        ),
        Panel(
            "Records out per flow and topic",
            "Records the broker acknowledged a second, per output topic.",
            (
                Target(
                    "sum by (namespace, flow, topic) "
                    f"(rate({series('omni_events_out_total')}[$__rate_interval]))",
                    "{{flow}} {{topic}}",
                ),
            ),
            unit="cps",
        ),
        Panel(
            "Exceptions by reason",
            "Records sent to integration.exceptions a second: unmapped codes, unknown SKUs, "
            "unbalanced settlements, unreadable payloads. The workbench's queue holds them.",
            (
                Target(
                    "sum by (namespace, flow, reason) "
                    f"(rate({series('omni_exceptions_total')}[$__rate_interval]))",
                    "{{flow}} {{reason}}",
                ),
            ),
            unit="cps",
        ),
        Panel(
            "Duplicates suppressed",
            "Re-deliveries and re-submissions recognised and not applied again, a second.",
            (
                Target(
                    "sum by (namespace, flow, kind) "
                    f"(rate({series('omni_duplicates_suppressed_total')}[$__rate_interval]))",
                    "{{flow}} {{kind}}",
                ),
            ),
            unit="cps",
        ),
        Panel(
            "Ingest delay p95 per flow",
            "Wall clock at reading a record minus its Kafka timestamp (p95): how long records "
            "wait on the broker before the flow reads them.",
            (
                Target(
                    quantile(0.95, "omni_consume_delay_seconds", by="flow"),
                    "{{flow}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Broker unreachable",
            "How long each sink has been waiting for the broker to take its records (0: not "
            "waiting). Past KAFKA_OUTAGE_TIMEOUT_S the flow stops; 10 minutes pages.",
            (
                Target(
                    f"max by (namespace, flow, step) ({series('omni_broker_unreachable_seconds')})",
                    "{{flow}} {{step}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Broker outages",
            "Times a sink found the broker unreachable and waited, over the last hour.",
            (
                Target(
                    "sum by (namespace, flow, step) "
                    f"(increase({series('omni_broker_outages_total')}[1h]))",
                    "{{flow}} {{step}}",
                ),
            ),
        ),
        Panel(
            "Source stalls",
            "Times a source partition fetched nothing for SOURCE_STALL_S while the broker held "
            "records for it, and was read anew, over the last hour.",
            (
                Target(
                    "sum by (namespace, flow, topic) "
                    f"(increase({series('omni_source_stalls_total')}[1h]))",
                    "{{flow}} {{topic}}",
                ),
            ),
        ),
        Panel(
            "Read model outages",
            "Times Redis became unreachable for the availability writers over the last hour, "
            "and the keys whose newest update Redis has not taken yet.",
            (
                Target(
                    "sum by (namespace, flow) "
                    f"(increase({series('omni_read_model_outages_total')}[1h]))",
                    "outages {{flow}}",
                ),
                Target(
                    f"sum by (namespace, flow) ({series('omni_read_model_pending_keys')})",
                    "pending keys {{flow}}",
                ),
            ),
        ),
        Panel(
            "Keys in state",
            "Keys each stateful step holds, summed over processes: memory grows with them.",
            (
                Target(
                    f"sum by (namespace, flow, step) ({series('omni_keys_in_state')})",
                    "{{flow}} {{step}}",
                ),
            ),
            width=24,
        ),
    ),
)

BUSINESS = Dashboard(
    uid="omni-business",
    title="Omnichannel business",
    description=(
        "For finance operations: how long orders wait for their invoice, what could not be "
        "posted, what does not reconcile, how fresh the channels' availability and the ERP's "
        "postings are, and oversells."
    ),
    panels=(
        Panel(
            "Failed postings, 24 h",
            "Events finance could not post (sent to integration.exceptions) and postings the "
            "broker did not take, over the last day.",
            (Target(f"sum(increase({series('omni_postings_failed_total')}[24h]))", "failed"),),
            kind="stat",
            width=6,
            height=4,
        ),
        Panel(
            "Refund mismatches, 24 h",
            "Refunds with no invoice to credit within the grace, over the last day.",
            (Target(f"sum(increase({series('omni_refund_mismatches_total')}[24h]))", "refunds"),),
            kind="stat",
            width=6,
            height=4,
        ),
        Panel(
            "Hours not reconciling",
            "Hours of the last day whose newest summary does not reconcile, for the worst "
            "channel and currency.",
            (Target(f"max({series('omni_reconciliation_backlog_windows')})", "hours"),),
            kind="stat",
            width=6,
            height=4,
        ),
        Panel(
            "Oversells, 24 h",
            "Orders accepted for stock that was not there, over the last day.",
            (
                Target(
                    f"sum(increase({OVERSELLS}[24h]))",
                    "oversells",
                ),
            ),
            kind="stat",
            width=6,
            height=4,
        ),
        Panel(
            "Order aging per channel",
            "Event time from an order's placing to its first shipment, which finance invoices: "
            "p50 and p95 of the orders shipped in the last hour. Over 2 days at p95 warns.",
            (
                Target(
                    quantile(0.5, "omni_order_aging_seconds", "channel", "1h"), "p50 {{channel}}"
                ),
                Target(
                    quantile(0.95, "omni_order_aging_seconds", "channel", "1h"), "p95 {{channel}}"
                ),
            ),
            unit="s",
        ),
        Panel(
            "ERP posting delay per channel",
            "Wall clock when a posting's transaction committed to erp.postings minus the event "
            "time of its newest source event: p50 and p95.",
            (
                Target(quantile(0.5, "omni_posting_delay_seconds", "channel"), "p50 {{channel}}"),
                Target(quantile(0.95, "omni_posting_delay_seconds", "channel"), "p95 {{channel}}"),
            ),
            unit="s",
        ),
        Panel(
            "Failed postings by reason",
            "Per hour: events finance sent to integration.exceptions, by reason, and "
            "not_delivered, postings the broker did not take (that pages).",
            (
                Target(
                    "sum by (namespace, reason) "
                    f"(increase({series('omni_postings_failed_total')}[1h]))",
                    "{{reason}}",
                ),
            ),
        ),
        Panel(
            "Refund mismatches per channel",
            "Per hour: refunds that found no invoice to credit within the grace.",
            (
                Target(
                    "sum by (namespace, channel) "
                    f"(increase({series('omni_refund_mismatches_total')}[1h]))",
                    "{{channel}}",
                ),
            ),
        ),
        Panel(
            "Reconciliation gap",
            "The newest hour's unexplained amount per channel, in its currency: "
            "|shipped - invoiced| + |refunded - credited|. Late events may still close it.",
            (
                Target(
                    f"max by (namespace, channel, currency) ({series('omni_reconciliation_gap')})",
                    "{{channel}} {{currency}}",
                ),
            ),
        ),
        Panel(
            "Reconciliation backlog",
            "Hours of the last day whose newest summary does not reconcile, per channel and "
            "currency. Over 3 for 30 minutes warns.",
            (
                Target(
                    "max by (namespace, channel, currency) "
                    f"({series('omni_reconciliation_backlog_windows')})",
                    "{{channel}} {{currency}}",
                ),
            ),
        ),
        Panel(
            "Availability latency",
            "Wall clock at publishing an availability update minus the event time of its "
            "newest input: p50 and p99. What the channels sell from is this old.",
            (
                Target(quantile(0.5, "omni_availability_latency_seconds"), "p50"),
                Target(quantile(0.99, "omni_availability_latency_seconds"), "p99"),
            ),
            unit="s",
        ),
        Panel(
            "Oversells",
            "Per hour: orders accepted for stock that was not there, as availability found them.",
            (
                Target(
                    f"sum by (namespace) (increase({OVERSELLS}[1h]))",
                    "oversells",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (FLOW_HEALTH, BUSINESS)


def write(directory: Path = DASHBOARDS_DIR, dashboards: Sequence[Dashboard] = DASHBOARDS) -> None:
    """Write each dashboard's JSON model to `<directory>/<uid>.json`."""
    directory.mkdir(parents=True, exist_ok=True)
    for dashboard in dashboards:
        (directory / dashboard.file_name).write_text(dashboard.json(), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m omnichannel.dashboards", description="The flows' Grafana dashboards."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    writing = commands.add_parser("write", help="write the dashboards' JSON for the ConfigMap")
    writing.add_argument("--out", type=Path, default=DASHBOARDS_DIR, help="the folder to write")
    arguments = parser.parse_args(argv)
    write(arguments.out)
    for dashboard in DASHBOARDS:
        print(arguments.out / dashboard.file_name)


if __name__ == "__main__":
    main()
