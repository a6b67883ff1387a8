"""Metrics scraped live from running flows, linted by promtool and checked against the records.

Each flow runs as `python -m bytewax.run` with its endpoint on a free port; the test waits until
the flow has read and written everything, scrapes `/metrics` while it still runs, pipes the
scrape through `promtool check metrics`, and compares the business metrics with what the
generator's manifest and the topics say.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from prometheus_client.parser import text_string_to_metric_families

from omnichannel.contracts.common import Channel
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka
from omnichannel.settings import Connections
from omnichannel.topics import Topics
from tests.conftest import RedisNamespace, TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    read_topic,
    records_in,
    run_flow,
    topic_env,
)

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is missing (Debian's `prometheus` package provides it)"
)
DEFAULT = Topics()


class Scrape:
    """One scrape of `/metrics`, parsed: sums of samples by name and label subset."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def total(self, name: str, **labels: str) -> float:
        return sum(
            value
            for found, have, value in self.samples
            if found == name and labels.items() <= have.items()
        )

    def label_sets(self, name: str) -> list[dict[str, str]]:
        return [have for found, have, _ in self.samples if found == name]


class LiveFlow:
    """A flow running on Kafka with its metrics on a port of its own."""

    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = log
        self._stderr: IO[bytes] = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", f"{module}:flow"],
            env={
                **os.environ,
                **env,
                "METRICS_PORT": str(self.port),
                "METRICS_LAG_INTERVAL_S": "1",
                "LOG_FORMAT": "json",
            },
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )

    def scrape(self) -> Scrape | None:
        """The endpoint's metrics, or None while it is not up yet."""
        assert self.process.poll() is None, f"the flow ended:\n{self.log.read_text()[-3000:]}"
        try:
            url = f"http://127.0.0.1:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                return Scrape(response.read().decode())
        except OSError:
            return None

    def wait_for(self, done: Callable[[Scrape], bool], what: str) -> Scrape:
        """Scrape until `done` holds (3 minutes at most); that scrape."""
        deadline = time.monotonic() + 180
        while True:
            scrape = self.scrape()
            if scrape is not None and done(scrape):
                return scrape
            assert time.monotonic() < deadline, f"not seen in 3 minutes: {what}"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._stderr.close()

    def json_logs(self) -> list[dict[str, object]]:
        """Our log lines (Bytewax's own Rust lines are not JSON)."""
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"time"')]


def promtool_check(text: str) -> None:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, f"promtool check metrics:\n{checked.stdout}{checked.stderr}"


@pytest.fixture
def live_flows(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], LiveFlow]]:
    started: list[LiveFlow] = []

    def start(module: str, env: dict[str, str]) -> LiveFlow:
        flow = LiveFlow(module, env, tmp_path / f"{module}.{len(started)}.log")
        started.append(flow)
        return flow

    yield start
    for flow in started:
        flow.stop()


def lag_settled(scrape: Scrape, flow: str, topics: list[str]) -> bool:
    """The lag of every partition of the topics is known, and zero."""
    seen = {labels["topic"] for labels in scrape.label_sets("omni_consumer_lag_records")}
    return seen >= set(topics) and scrape.total("omni_consumer_lag_records", flow=flow) == 0


def test_normalization_metrics_account_for_every_record(
    kafka_bootstrap: str,
    new_topic: TopicFactory,
    live_flows: Callable[[str, dict[str, str]], LiveFlow],
) -> None:
    scenario = generate(ScenarioSettings(seed=5, events=2_000, skus=80), load_reference())
    topics = fresh_topics(new_topic)
    renamed = dict(zip(DEFAULT.inputs, topics.inputs, strict=True))
    produce_to_kafka(scenario, kafka_bootstrap, renamed)
    total = scenario.manifest["total_events"]
    flow = live_flows(
        "dataflows.normalization",
        {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)},
    )

    scrape = flow.wait_for(
        lambda s: (
            s.total("omni_events_out_total", flow="normalization") == total
            and lag_settled(s, "normalization", topics.inputs)
        ),
        f"{total} records delivered and no lag",
    )
    promtool_check(scrape.text)

    def of(name: str, **labels: str) -> float:
        return scrape.total(name, flow="normalization", **labels)

    # Every record read, per source topic, with its channel.
    assert of("omni_events_in_total") == total
    for default, topic in renamed.items():
        assert of("omni_events_in_total", topic=topic) == len(scenario.records[default])
    assert of("omni_events_in_total", topic=topics.web_orders, channel="web") > 0
    assert of("omni_events_in_total", topic=topics.movements, channel="warehouse") > 0
    # Nothing lost: in = processed + duplicates + exceptions.
    processed, exceptions = of("omni_events_processed_total"), of("omni_exceptions_total")
    assert exceptions > 0
    assert of("omni_events_in_total") == (
        processed + of("omni_duplicates_suppressed_total") + exceptions
    )
    injected: dict[str, int] = {}
    for fault in scenario.manifest["faults"]:
        kind, _, reason = fault["expected"].partition(":")
        if kind == "exception":
            injected[reason] = injected.get(reason, 0) + 1
    for reason, count in injected.items():
        assert of("omni_exceptions_total", reason=reason) == count, reason
    # Out per topic: what the manifest expects, and what the topics hold.
    expected = scenario.manifest["expected_counts"]
    for default, topic in (
        (DEFAULT.canonical_orders, topics.canonical_orders),
        (DEFAULT.canonical_movements, topics.canonical_movements),
        (DEFAULT.canonical_settlements, topics.canonical_settlements),
    ):
        assert of("omni_events_out_total", topic=topic) == expected.get(default, 0)
        assert records_in(kafka_bootstrap, [topic]) == expected.get(default, 0)
    assert of("omni_events_out_total", topic=topics.exceptions) == exceptions
    assert of("omni_events_out_total") == processed + exceptions
    # Every record's delay since it was appended; Bytewax's own metrics on the same endpoint.
    assert of("omni_consume_delay_seconds_count") == total
    assert scrape.total("bytewax_item_inp_count_total") > 0

    logs = flow.json_logs()
    assert any("metrics on port" in str(line["message"]) for line in logs), logs
    assert all(line["flow"] == "normalization" for line in logs), logs


def test_availability_and_finance_metrics_while_they_run(
    connections: Connections,
    kafka_bootstrap: str,
    new_topic: TopicFactory,
    redis_namespace: RedisNamespace,
    live_flows: Callable[[str, dict[str, str]], LiveFlow],
) -> None:
    scenario = generate(ScenarioSettings(seed=11, events=2_000, skus=80), load_reference())
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(DEFAULT.inputs, topics.inputs, strict=True))
    )
    settings = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**settings, "NORMALIZE_TAIL": "false"})
    finance = live_flows("dataflows.finance", settings)
    availability = live_flows(
        "dataflows.availability",
        {
            **settings,
            "AVAILABILITY_COALESCE_MS": "50",
            "REDIS_URL": connections.redis_url,
            "READ_MODEL_PREFIX": redis_namespace.prefix,
        },
    )
    finance_inputs = [topics.canonical_orders, topics.canonical_settlements]
    availability_inputs = [topics.canonical_orders, topics.canonical_movements]

    def postings_settled(s: Scrape) -> bool:
        written = s.total("omni_events_out_total", flow="finance", topic=topics.postings)
        # Committed postings: transaction markers take offsets too, so count what is read.
        return written > 0 and written == len(read_topic(kafka_bootstrap, topics.postings))

    books = finance.wait_for(
        lambda s: (
            s.total("omni_events_in_total", flow="finance")
            == records_in(kafka_bootstrap, finance_inputs)
            and lag_settled(s, "finance", finance_inputs)
            and postings_settled(s)
            and len(s.label_sets("omni_reconciliation_gap")) >= 3
        ),
        "finance read everything, its postings written, summaries seen",
    )
    promtool_check(books.text)
    duplicates = scenario.manifest["fault_counts"]
    expected = duplicates["duplicate_webhook"] + duplicates["pos_backlog_resend"]
    assert books.total("omni_duplicates_suppressed_total", kind="duplicate_event") == expected
    assert books.total("omni_anomalies_total", type="duplicate_event") == expected
    # Order aging: from the order to its first shipment, on the web and the marketplace.
    for channel in ("web", "marketplace"):
        shipped = books.total("omni_order_aging_seconds_count", channel=channel)
        assert shipped > 0
        assert books.total("omni_order_aging_seconds_sum", channel=channel) / shipped > 60
    assert books.total("omni_order_aging_seconds_count", channel="pos") == 0
    # ERP posting delay: one observation per committed posting, each a day's replay late.
    posted = books.total("omni_events_out_total", flow="finance", topic=topics.postings)
    assert books.total("omni_posting_delay_seconds_count") == posted
    assert books.total("omni_posting_delay_seconds_sum") / posted > 60
    channels = {labels["channel"] for labels in books.label_sets("omni_reconciliation_gap")}
    assert channels == {"web", "pos", "marketplace"}
    assert books.total("omni_keys_in_state", step="order_ledger") > 100
    # One key per (channel, currency) the day trades in.
    assert books.total("omni_keys_in_state", step="reconciliation") == len(
        books.label_sets("omni_reconciliation_gap")
    )

    published = availability.wait_for(
        lambda s: (
            s.total("omni_events_in_total", flow="availability")
            == records_in(kafka_bootstrap, availability_inputs)
            and lag_settled(s, "availability", availability_inputs)
            and s.total("omni_read_model_pending_keys") == 0
            and s.total("omni_read_model_updates_total")
            == s.total("omni_availability_latency_seconds_count")
            and s.total("omni_availability_latency_seconds_count")
            == s.total("omni_events_out_total", flow="availability")
            - s.total("omni_events_out_total", flow="availability", topic=topics.anomalies)
            - s.total("omni_events_out_total", flow="availability", topic=topics.exceptions)
        ),
        "availability read everything and published every update",
    )
    promtool_check(published.text)
    updates = published.total("omni_availability_latency_seconds_count")
    assert updates > 0
    assert published.total("omni_keys_in_state", step="sku_stock") > 10
    assert published.total("omni_keys_in_state", step="order_stock") > 100
    assert updates == sum(
        records_in(kafka_bootstrap, [topics.availability(channel)]) for channel in Channel
    )
    assert published.total("omni_read_model_updates_total") == updates
    # Oversells, and the stock movements that changed nothing (delivered again, or inside a
    # count): every anomaly counted is on the topic.
    assert published.total("omni_anomalies_total", flow="availability", type="oversell") > 0
    assert published.total("omni_anomalies_total", flow="availability") == (
        published.total("omni_events_out_total", flow="availability", topic=topics.anomalies)
    )
