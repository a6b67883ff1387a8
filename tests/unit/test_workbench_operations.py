"""The operations overview: from the flows' real exposition to the figures people read.

The metrics text is made by prometheus-client itself, from twins of omnichannel/metrics.py's
metrics (same names, labels and buckets) in a registry of the test's own, so the flows'
global registry is left as it is. One test scrapes real HTTP endpoints on this machine.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, start_http_server

from omnichannel import metrics
from omnichannel.workbench import operations
from omnichannel.workbench.operations import (
    MetricsWatch,
    Overview,
    TargetScrape,
    check_metrics_url,
    format_duration,
    histogram_quantile,
    parse_metrics,
    quantiles,
    sparkline_svg,
    trends,
)

AT = datetime(2024, 11, 29, 12, 0, tzinfo=UTC)
INF = float("inf")


class Flows:
    """Twins of the flows' metrics in a registry of their own: one process's /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def twin(metric: Any) -> Any:
            if isinstance(metric, metrics.BatchHistogram):
                return metrics.BatchHistogram(
                    metric._name,
                    metric._documentation,
                    metric._labelnames,
                    metric._bounds,
                    self.registry,
                )
            kind = type(metric)
            assert kind in (Counter, Gauge)
            return kind(
                metric._name, metric._documentation, metric._labelnames, registry=self.registry
            )

        self.events_in = twin(metrics.EVENTS_IN)
        self.events_out = twin(metrics.EVENTS_OUT)
        self.exceptions = twin(metrics.EXCEPTIONS)
        self.postings_failed = twin(metrics.POSTINGS_FAILED)
        self.refund_mismatches = twin(metrics.REFUND_MISMATCHES)
        self.backlog = twin(metrics.RECONCILIATION_BACKLOG)
        self.gap = twin(metrics.RECONCILIATION_GAP)
        self.lag = twin(metrics.CONSUMER_LAG)
        self.aging = twin(metrics.ORDER_AGING)
        self.posting_delay = twin(metrics.POSTING_DELAY)
        self.latency = twin(metrics.AVAILABILITY_LATENCY)

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def scrape(self, target: str, at: datetime = AT) -> TargetScrape:
        samples = tuple(parse_metrics(self.text()))
        return TargetScrape(target, at, samples, flow=operations.flow_of(samples))


def finance_process() -> Flows:
    flows = Flows()
    flows.events_in.labels("finance", "canonical.orders", "web").inc(120)
    flows.events_out.labels("finance", "erp.postings").inc(80)
    flows.postings_failed.labels("finance", "not_delivered")
    flows.postings_failed.labels("finance", "refund_before_invoice").inc(3)
    flows.exceptions.labels("finance", "refund_before_invoice").inc(3)
    flows.refund_mismatches.labels("finance", "web").inc(2)
    flows.backlog.labels("web", "EUR").set(2)
    flows.gap.labels("web", "EUR").set(19.99)
    flows.gap.labels("pos", "EUR").set(0)
    flows.lag.labels("finance", "canonical.orders", "0").set(7)
    flows.lag.labels("finance", "canonical.orders", "1").set(5)
    flows.lag.labels("finance", "canonical.settlements", "0").set(0)
    # Ten orders shipped within the minute, ten between one and five minutes.
    flows.aging.labels("web").observe_many([30.0] * 10 + [120.0] * 10)
    flows.posting_delay.labels("web", "invoice").observe_many([0.7] * 4)
    return flows


def test_the_overview_reads_the_flows_real_exposition() -> None:
    overview = Overview.build([finance_process().scrape("http://finance-0:9100/metrics")])

    assert not overview.partial
    (target,) = overview.targets
    assert (target.flow, target.up) == ("finance", True)
    finance = overview.flows["finance"]
    assert finance.lag == {"canonical.orders": 12, "canonical.settlements": 0}
    assert finance.lag_total == 12
    assert overview.failed_postings == {"not_delivered": 0, "refund_before_invoice": 3}
    assert overview.refund_mismatches == {"web": 2}
    assert overview.exceptions == {"refund_before_invoice": 3}
    assert [
        (r.channel, r.currency, r.backlog_windows, r.gap) for r in overview.reconciliation or ()
    ] == [
        ("pos", "EUR", 0, 0),
        ("web", "EUR", 2, 19.99),
    ]
    assert overview.reconciliation is not None
    assert overview.reconciliation[0].reconciles
    aging = (overview.order_aging or {})["web"]
    assert aging.observations == 20
    assert aging.p50 == pytest.approx(60.0)  # the tenth of twenty: the top of the first bucket
    assert aging.p95 == pytest.approx(60 + 240 * (19 - 10) / 10)  # inside 60..300 s
    assert overview.posting_delay is not None
    assert overview.posting_delay.p50 == pytest.approx(0.5 + 0.5 * 2 / 4)
    assert overview.posting_delay_by_channel is not None
    assert set(overview.posting_delay_by_channel) == {"web"}
    # Served by none of the targets, all of them up: nothing happened, so no observation.
    assert overview.availability_latency is not None
    assert overview.availability_latency.observations == 0
    assert overview.availability_latency.p99 is None


def test_the_names_it_reads_are_the_flows_metrics() -> None:
    families = {family.name: family.type for family in Flows().registry.collect()}
    read = [
        value
        for name, value in vars(operations).items()
        if name.isupper() and isinstance(value, str) and value.startswith("omni_")
    ]
    assert len(read) == 11
    for name in read:
        counter = name.removesuffix("_total")
        assert families.get(name) in ("gauge", "histogram") or (
            name != counter and families.get(counter) == "counter"
        ), name


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, {1.0: 10, 2.0: 20, INF: 20}, 1.0),
        (0.75, {1.0: 10, 2.0: 20, INF: 20}, 1.5),
        (0.25, {1.0: 10, 2.0: 20, INF: 20}, 0.5),
        (0.99, {1.0: 0, 2.0: 0, INF: 5}, 2.0),  # in +Inf: the highest finite bound
        (0.5, {0.0: 4, 1.0: 4, INF: 4}, 0.0),
        (0.5, {1.0: 0, INF: 0}, None),  # no observation: Prometheus says NaN
        (0.5, {1.0: 3, 2.0: 5}, None),  # no +Inf bucket
        (0.5, {}, None),
    ],
)
def test_quantiles_as_prometheus_computes_them(
    q: float, buckets: dict[float, float], expected: float | None
) -> None:
    assert histogram_quantile(q, buckets) == expected


def test_a_quantile_beyond_the_highest_bucket_reads_as_at_least_that() -> None:
    # A replayed day's postings, a week after their events: past the one-day bucket.
    delay = quantiles({3600.0: 2, 86400.0: 2, INF: 10})
    assert delay.ceiling == 86400.0
    assert (delay.shown("p50"), delay.shown("p95")) == (">= 1 d", ">= 1 d")
    assert quantiles({1.0: 10, 2.0: 20, INF: 20}).shown("p50") == "1 s"
    assert quantiles({1.0: 0, INF: 0}).shown("p99") == "-"


def test_buckets_of_several_processes_add_up() -> None:
    one, two = Flows(), Flows()
    one.aging.labels("web").observe_many([30.0] * 10)
    two.aging.labels("web").observe_many([120.0] * 10)
    overview = Overview.build([one.scrape("a"), two.scrape("b")])
    aging = (overview.order_aging or {})["web"]
    assert aging.observations == 20
    assert aging.p50 == pytest.approx(60.0)


def test_rates_come_from_each_process_counter_deltas() -> None:
    zero, one = Flows(), Flows()
    for process in (zero, one):
        process.events_in.labels("normalization", "web.orders", "web").inc(100)
    before = {s.target: s for s in (zero.scrape("n-0"), one.scrape("n-1"))}
    zero.events_in.labels("normalization", "web.orders", "web").inc(50)
    zero.events_out.labels("normalization", "canonical.orders").inc(40)
    restarted = Flows()  # n-1 restarted: it counts from 0 again
    restarted.events_in.labels("normalization", "web.orders", "web").inc(30)
    later = AT + timedelta(seconds=10)
    overview = Overview.build([zero.scrape("n-0", later), restarted.scrape("n-1", later)], before)

    normalization = overview.flows["normalization"]
    assert normalization.events_in_per_s == pytest.approx((50 + 30) / 10)
    assert normalization.events_out_per_s == pytest.approx(40 / 10)
    # Without an earlier answer, there is no rate yet (not a rate of 0).
    first = Overview.build([zero.scrape("n-0")])
    assert first.flows["normalization"].events_in_per_s is None


def test_a_target_that_is_down_is_shown_down_not_as_zeros() -> None:
    availability = Flows()
    availability.events_in.labels("availability", "canonical.orders", "web").inc(5)
    availability.latency.labels().observe_many([0.2, 0.3])
    finance_down = TargetScrape(
        "http://finance-0:9100/metrics", AT, error="refused", flow="finance"
    )
    overview = Overview.build(
        [availability.scrape("http://availability-0:9100/metrics"), finance_down]
    )

    assert overview.partial
    assert [t.url for t in overview.down] == ["http://finance-0:9100/metrics"]
    finance = overview.flows["finance"]
    assert not finance.up
    assert (finance.lag, finance.events_in_per_s, finance.lag_total) == (None, None, None)
    # Finance's figures: nobody that answered serves them, so they are unknown.
    assert overview.failed_postings is None
    assert overview.refund_mismatches is None
    assert overview.reconciliation is None
    assert overview.order_aging is None
    assert overview.posting_delay is None
    # Availability's are there.
    assert overview.flows["availability"].up
    assert overview.availability_latency is not None
    assert overview.availability_latency.observations == 2
    # In the charts, unknown is a gap.
    assert trends([overview])["lag:finance"].values == [None]
    assert "circle" not in sparkline_svg([None, None])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served_process() -> Iterator[tuple[Flows, int]]:
    flows = finance_process()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=flows.registry)
    yield flows, port
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_watch_scrapes_real_endpoints_and_keeps_a_bounded_history(
    served_process: tuple[Flows, int], caplog: pytest.LogCaptureFixture
) -> None:
    flows, port = served_process
    closed = free_port()
    watch = MetricsWatch(
        [f"dns+http://localhost:{port}/metrics", f"http://127.0.0.1:{closed}/metrics"],
        interval_s=60,
        keep=2,
        timeout_s=2,
    )
    try:
        first = watch.scrape_round()
        flows.events_in.labels("finance", "canonical.orders", "web").inc(60)
        watch.scrape_round()
        third = watch.scrape_round()
    finally:
        watch.stop()

    up = {t.url: t.up for t in first.targets}
    assert up == {
        f"http://127.0.0.1:{port}/metrics": True,  # localhost, resolved: one IPv4 address
        f"http://127.0.0.1:{closed}/metrics": False,
    }
    assert first.flows["finance"].lag_total == 12
    assert first.flows["finance"].events_in_per_s is None
    assert third.flows["finance"].events_in_per_s == 0
    assert first.partial
    assert first.failed_postings == {
        "not_delivered": 0,
        "refund_before_invoice": 3,
    }
    assert len(watch.history()) == 2
    assert watch.latest() is third
    down = [r.getMessage() for r in caplog.records if "is down" in r.getMessage()]
    assert len(down) == 1, "said once, not every round"
    assert f"127.0.0.1:{closed}" in down[0]


def test_the_watch_runs_in_its_own_thread(served_process: tuple[Flows, int]) -> None:
    _, port = served_process
    watch = MetricsWatch([f"http://127.0.0.1:{port}/metrics"], interval_s=0.05, keep=5)
    watch.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while len(watch.history()) < 3:
            assert datetime.now(UTC) < deadline, "three rounds not scraped in 10 s"
            watch._stop.wait(0.05)
    finally:
        watch.stop()
    assert watch.latest() is not None


def test_a_name_that_does_not_resolve_is_a_target_down() -> None:
    watch = MetricsWatch(["dns+http://no-such-flow.invalid:9100/metrics"], keep=1, timeout_s=1)
    try:
        overview = watch.scrape_round()
    finally:
        watch.stop()
    (target,) = overview.down
    assert target.url == "dns+http://no-such-flow.invalid:9100/metrics"
    assert target.error is not None
    assert "does not resolve" in target.error


@pytest.mark.parametrize("url", ["ftp://flows/metrics", "http:///metrics", "dns+tcp://x:1"])
def test_urls_it_cannot_scrape_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="expected http"):
        check_metrics_url(url)


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def shapes(root: ET.Element, tag: str) -> list[ET.Element]:
    return root.findall(f"{{http://www.w3.org/2000/svg}}{tag}")


def test_a_sparkline_is_well_formed_svg_with_gaps_where_values_are_unknown() -> None:
    root = parsed(sparkline_svg([1, 3, 2, None, 5, 4, None, 7], label='lag <"finance"> & co'))
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
        "120",
        "24",
        "0 0 120 24",
    )
    assert root.get("aria-label") == 'lag <"finance"> & co'
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None
    assert title.text == 'lag <"finance"> & co'
    lines = shapes(root, "polyline")
    assert [len(line.get("points", "").split()) for line in lines] == [3, 2]
    assert len(shapes(root, "circle")) == 1  # the lone 7
    ys = [float(p.split(",")[1]) for line in lines for p in line.get("points", "").split()]
    assert all(0 <= y <= 24 for y in ys)
    assert max(ys) == pytest.approx(22)  # the lowest value at the bottom, inside the padding


@pytest.mark.parametrize("values", [[], [None], [4.0], [2.0, 2.0, 2.0], [float("nan"), 1.0, 2.0]])
def test_a_sparkline_of_few_or_flat_values_is_still_well_formed(values: list[float | None]) -> None:
    root = parsed(sparkline_svg(values, width=60, height=12))
    assert "script" not in ET.tostring(root, encoding="unicode")


def test_trends_follow_each_figure_over_the_history() -> None:
    flows = finance_process()
    history = []
    previous: dict[str, TargetScrape] = {}
    for second in range(3):
        scrape = flows.scrape("f-0", AT + timedelta(seconds=10 * second))
        history.append(Overview.build([scrape], previous))
        previous = {scrape.target: scrape}
        flows.lag.labels("finance", "canonical.orders", "0").inc(10)
    found = trends(history)
    assert found["lag:finance"].values == [12, 22, 32]
    assert found["events_in:finance"].values == [None, 0, 0]
    assert found["failed_postings"].latest == 3
    assert found["reconciliation_gap:web:EUR"].unit == "EUR"
    assert found["order_aging_p95:web"].values[0] == pytest.approx(276.0)
    assert trends([]) == {}


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, "-"), (0.25, "250 ms"), (45, "45 s"), (720, "12 min"), (12000, "3 h 20 min"),
     (7200, "2 h"), (86400 * 2 + 4 * 3600, "2 d 4 h"), (86400, "1 d")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: float | None, words: str) -> None:
    assert format_duration(seconds) == words
