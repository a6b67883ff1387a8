"""Every Grafana panel's query, evaluated by a real Prometheus scraping the three flows live.

The flows run against the real broker (and Redis, for availability) with their metrics on
ports of their own, as tests/integration/test_metrics.py runs them; Prometheus (Debian's
`prometheus` package) scrapes them every second with the labels the PodMonitor gives in
Kubernetes. A generated day arrives in two halves, so that counters and histograms created by
the first half rise in Prometheus's samples with the second. Then each query, with Grafana's
variables filled in, must return data: a panel that shows "No data" on a normal day would hide
what it is there to show, and a quantile of no observations (NaN) is no data either. Queries
may not paper over a missing series (`or vector(0)`): a series that exists only once something
happens is exported at 0 from the start by the flows.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from omnichannel.dashboards import DASHBOARDS
from omnichannel.localstack import ensure_command
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka
from omnichannel.settings import Connections
from omnichannel.topics import Topics
from tests.conftest import RedisNamespace, TopicFactory
from tests.integration.kafka_topics import fresh_topics, topic_env
from tests.integration.live_flows import halves
from tests.integration.test_metrics import LiveFlow

DEFAULT = Topics()
# What Grafana puts in for its variables: every namespace, and a rate window for 1 s scrapes.
VARIABLES = {"$namespace": ".*", "$__rate_interval": "1m"}
DEADLINE_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Prometheus:
    """A Prometheus server of the test's own, scraping the flows every second."""

    def __init__(self, workdir: Path, flows: dict[str, LiveFlow]) -> None:
        # Debian's Prometheus: installed with apt-get when root and absent, else a message.
        prometheus = ensure_command("prometheus", "prometheus")
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "omni-flows",
                    # As the PodMonitor: the flows' own `flow` label wins where both exist.
                    "honor_labels": True,
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{flow.port}"], "labels": {"flow": name}}
                        for name, flow in flows.items()
                    ],
                }
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log = workdir / "prometheus.log"
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def api(self, path: str, **params: str) -> Any:
        assert self.process.poll() is None, f"prometheus ended:\n{self.log.read_text()[-3000:]}"
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expression)["result"]
        return result

    def wait_for(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                if done():
                    return
            except OSError:
                pass  # not listening yet
            assert time.monotonic() < deadline, f"not within {DEADLINE_S}s: {what}"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Starts flows and Prometheus; stops them all at the end, Prometheus first."""
    running: list[LiveFlow | Prometheus] = []

    def start(thing: Callable[..., LiveFlow | Prometheus], *args: Any) -> Any:
        running.append(thing(*args))
        return running[-1]

    yield start
    for thing in reversed(running):
        thing.stop()


def test_every_panel_query_returns_data_from_live_flows(
    connections: Connections,
    kafka_bootstrap: str,
    new_topic: TopicFactory,
    redis_namespace: RedisNamespace,
    started: Callable[..., Any],
    tmp_path: Path,
) -> None:
    scenario = generate(ScenarioSettings(seed=11, events=2_000, skus=80), load_reference())
    topics = fresh_topics(new_topic)
    renamed = dict(zip(DEFAULT.inputs, topics.inputs, strict=True))
    settings = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    flows: dict[str, LiveFlow] = {
        "normalization": started(
            LiveFlow, "dataflows.normalization", settings, tmp_path / "normalization.log"
        ),
        "availability": started(
            LiveFlow,
            "dataflows.availability",
            {
                **settings,
                "AVAILABILITY_COALESCE_MS": "50",
                "REDIS_URL": connections.redis_url,
                "READ_MODEL_PREFIX": redis_namespace.prefix,
            },
            tmp_path / "availability.log",
        ),
        "finance": started(LiveFlow, "dataflows.finance", settings, tmp_path / "finance.log"),
    }
    prometheus: Prometheus = started(Prometheus, tmp_path, flows)

    def scraped_up() -> bool:
        targets = prometheus.api("targets")["activeTargets"]
        return len(targets) == len(flows) and all(t["health"] == "up" for t in targets)

    prometheus.wait_for(scraped_up, "every flow's endpoint scraped")
    first, second = halves(scenario)
    produce_to_kafka(first, kafka_bootstrap, renamed)

    def seen(expression: str) -> Callable[[], bool]:
        return lambda: any(float(r["value"][1]) > 0 for r in prometheus.query(expression))

    for expression in (
        "sum(omni_posting_delay_seconds_count)",
        "sum(omni_availability_latency_seconds_count)",
        "sum(omni_order_aging_seconds_count)",
    ):
        prometheus.wait_for(seen(expression), f"the first half: {expression} > 0")
    produce_to_kafka(second, kafka_bootstrap, renamed)
    total = scenario.manifest["total_events"]
    prometheus.wait_for(
        seen(f'sum(omni_events_out_total{{flow="normalization"}}) >= {total}'),
        f"normalization wrote all {total} records",
    )

    queries = {
        f"{dashboard.uid} / {panel.title} / {target.legend}": _filled(target.expr)
        for dashboard in DASHBOARDS
        for panel in dashboard.panels
        for target in panel.targets
    }
    empty = dict(queries)

    def every_query_has_data() -> bool:
        for name, expression in list(empty.items()):
            if any(math.isfinite(float(r["value"][1])) for r in prometheus.query(expression)):
                del empty[name]
        return not empty

    try:
        prometheus.wait_for(every_query_has_data, "data for every panel's query")
    except AssertionError:
        names = prometheus.query('count by (__name__) ({__name__=~"omni_.+"})')
        served = sorted(r["metric"]["__name__"] for r in names)
        pytest.fail(
            "no data for:\n"
            + "\n".join(f"  {name}: {expression}" for name, expression in empty.items())
            + f"\nseries Prometheus has: {served}"
        )
    assert len(queries) >= 20


def _filled(expression: str) -> str:
    for variable, value in VARIABLES.items():
        expression = expression.replace(variable, value)
    assert "$" not in expression, expression
    return expression
