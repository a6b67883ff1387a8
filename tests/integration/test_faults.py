"""The flows ride out their servers going away: the broker for minutes, Redis for a while.

Each test runs the three flows (`omni run`, recovery on) tailing a day that arrives in parts,
takes a server down while the flows work, brings it back, and waits for the flows to settle.
No flow process may die or be started again; nothing may be lost or doubled.

The broker's outage lasts 10 seconds in `make test`, and 60 seconds or 5 minutes (librdkafka's
default `message.timeout.ms`) when `OUTAGE_SECONDS` names them (`make soak`: 10 and 60). A
burst of input just before it goes leaves every flow with records on their way out, and input
keeps arriving through it the way a channel's producer sends it: the last quarter of the day
goes out in slices, one every so often from the moment the broker stops until after it is back,
from a producer that holds what the broker cannot take yet and sends it once it can. Producing
it only after the restart would spare the flows the moment that matters: their own queued
output, a backlog of input, and new input all at once, while their clients reconnect.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import redis
from confluent_kafka import KafkaError, Message, Producer

from omnichannel.contracts.common import Channel
from omnichannel.kafka_admin import ensure_topics
from omnichannel.kafka_settings import producer_config
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.records import Scenario
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from state.read_model import availability_key
from tests.conftest import RedisNamespace, TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    newest_availability,
    read_topic,
    records_in,
    topic_env,
)
from tests.integration.live_flows import (
    REFERENCE,
    SETTLE_S,
    expected_postings,
    flows_running,
    halves,
    posted_keys,
    wait_for,
)
from tests.integration.own_servers import OwnBroker, OwnRedis
from tests.oracle.availability import final_availability

Key = tuple[str, str, str | None]


def outage(seconds: int, *marks: pytest.MarkDecorator) -> object:
    """A broker outage of `seconds`, with time to set up and settle around it."""
    return pytest.param(
        seconds, marks=[pytest.mark.timeout(seconds + 600), *marks], id=f"{seconds}s"
    )


# `make test` stops the broker for 10 s; `OUTAGE_SECONDS=10,60,300` (the soak: 10 and 60) more.
CHOSEN = {int(n) for n in os.environ.get("OUTAGE_SECONDS", "10").split(",") if n.strip()}
OUTAGES = [
    outage(
        seconds,
        pytest.mark.skipif(seconds not in CHOSEN, reason=f"OUTAGE_SECONDS={seconds} runs it"),
        *([pytest.mark.long_outage] if seconds >= 300 else []),
    )
    for seconds in (10, 60, 300)
]
# What a sink logs when it starts waiting for the broker, and when it has delivered.
WAITING = "the broker is unreachable"
DELIVERED = re.compile(r"([\w.]+): the broker is reachable again: records delivered after (\d+)s")


class ArrivingInput:
    """Input that keeps arriving: `scenario` sent in `slices`, one every `every_s`, by a
    producer that holds for `hold_s` what the broker cannot take yet."""

    def __init__(
        self, bootstrap: str, scenario: Scenario, slices: int, every_s: float, hold_s: float
    ) -> None:
        self._scenario = scenario
        self._slices = slices
        self._every_s = every_s
        self._hold_s = hold_s
        self._producer = Producer(
            producer_config([bootstrap], message_timeout_ms=int(hold_s * 1000))
        )
        # Partitions known before the broker goes: each record then waits in its partition's
        # queue, in order, as a channel's producer's would.
        self._producer.list_topics(timeout=30)
        self._failures: list[str] = []
        self._undelivered = -1
        self._thread = threading.Thread(target=self._send, name="arriving-input", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def delivered(self) -> int:
        """Wait until every record was delivered; how many there were."""
        self._thread.join(timeout=self._slices * self._every_s + self._hold_s + 60)
        assert not self._thread.is_alive(), "the input producer did not finish"
        assert self._failures == [], self._failures[:3]
        assert self._undelivered == 0, f"{self._undelivered} input records not delivered"
        return sum(len(rows) for rows in self._scenario.records.values())

    def _send(self) -> None:
        count = self._slices
        for part in range(count):
            for topic, rows in self._scenario.records.items():
                for record in rows[len(rows) * part // count : len(rows) * (part + 1) // count]:
                    self._produce(topic, record.key.encode(), record.value, record.timestamp_ms)
            self._producer.poll(0)
            time.sleep(self._every_s)
        self._undelivered = self._producer.flush(self._hold_s)

    def _produce(self, topic: str, key: bytes, value: bytes, timestamp_ms: int) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, timestamp=timestamp_ms, on_delivery=self._report
                )
                return
            except BufferError:
                self._producer.poll(0.1)

    def _report(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}: {error}")


@pytest.mark.parametrize("outage_s", OUTAGES)
def test_flows_ride_out_a_broker_outage_while_input_keeps_arriving(
    own_broker: OwnBroker, tmp_path: Path, outage_s: int
) -> None:
    bootstrap = own_broker.bootstrap
    topics = Topics()
    ensure_topics([bootstrap], topics.inputs, partitions=2)
    ensure_topics(
        [bootstrap],
        [
            name
            for field, name in topics.model_dump().items()
            if field not in {"availability_prefix"}
        ]
        + [topics.availability(channel) for channel in Channel],
        partitions=3,
    )
    scenario = generate(ScenarioSettings(seed=21, events=20_000, skus=300), REFERENCE)
    write_jsonl(scenario, tmp_path / "day")
    expected = expected_postings(tmp_path / "day", tmp_path / "uninterrupted")
    first, second = halves(scenario)
    burst, trickle = halves(second)
    produce_to_kafka(first, bootstrap)
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SNAPSHOT_INTERVAL_S": "2"}
    # Slices through the outage and for 10 s after the broker is back (it takes seconds to
    # start), so that input arrives while the flows catch up.
    slices = 20
    arriving = ArrivingInput(
        bootstrap, trickle, slices, every_s=(outage_s + 10) / slices, hold_s=outage_s + 300
    )

    with flows_running(env, tmp_path) as processes:
        wait_for(
            lambda: records_in(bootstrap, [topics.postings]) > 1_000,
            processes, 120, "postings from the first half",
        )  # fmt: skip
        # Work in hand for every flow when the broker goes: records on their way out.
        produce_to_kafka(burst, bootstrap)
        began = time.monotonic()
        own_broker.stop()
        stopped = time.monotonic()
        arriving.start()
        while time.monotonic() - stopped < outage_s:
            for process in processes:
                assert process.running, f"{process.name} died:\n{process.log_tail()}"
            time.sleep(0.5)
        restarting = time.monotonic()
        own_broker.start()
        back = time.monotonic()
        assert arriving.delivered() == sum(len(rows) for rows in trickle.records.values())
        wait_for(
            lambda: len(posted_keys(bootstrap, topics)) >= len(expected),
            processes, SETTLE_S, "every expected posting",
            lambda: f"missing {sorted(expected - set(posted_keys(bootstrap, topics)))[:5]}, "
            f"extra {sorted(set(posted_keys(bootstrap, topics)) - expected)[:5]}; on the way: "
            f"{_on_the_way(bootstrap, topics)}",
        )  # fmt: skip
        # Availability settles on its own: it has its own backlog after the outage.
        truth = final_availability(tmp_path / "day", REFERENCE)

        def published() -> dict[tuple[str, str, str | None], int]:
            newest = newest_availability(bootstrap, topics)
            return {k: u.available_to_sell for k, u in newest.items() if u.available_to_sell}

        wait_for(
            lambda: published() == truth, processes, SETTLE_S, "availability as the reference",
            lambda: _differences(published(), truth),
        )  # fmt: skip
        settled = time.monotonic()
        time.sleep(3)  # anything doubled late would be on the topic by now

    # Whole logs: while the broker is away librdkafka logs every failed connect (megabytes in
    # five minutes), and the first waiting line is near the start.
    logs = {process.name: process.log_tail(sys.maxsize) for process in processes}
    waits = {(step, int(s)) for text in logs.values() for step, s in DELIVERED.findall(text)}
    print(
        f"outage {outage_s}s: the stop took {stopped - began:.1f}s, the start "
        f"{back - restarting:.1f}s; settled {settled - back:.0f}s after; sinks waited "
        f"{sorted(waits)}"
    )
    for name, text in logs.items():
        assert "--- start 2" not in text, f"{name} was started again: it did not ride it out"
    posted = posted_keys(bootstrap, topics)
    assert [key for key, count in posted.items() if count > 1] == []
    assert set(posted) == expected
    assert published() == truth
    # The flows said they were waiting for the broker, and when they had delivered.
    assert any(WAITING in text for text in logs.values()), "no flow logged the waiting line"
    assert waits, "no flow logged that it had delivered after the outage"
    assert max(seconds for _, seconds in waits) >= outage_s, "no sink waited the outage out"


def test_flows_keep_going_while_redis_is_down_and_the_read_model_catches_up(
    kafka_bootstrap: str,
    new_topic: TopicFactory,
    own_redis: OwnRedis,
    redis_namespace: RedisNamespace,
    tmp_path: Path,
) -> None:
    own_redis.persistent = True
    own_redis.start()
    topics = fresh_topics(new_topic, input_partitions=2)
    scenario = generate(ScenarioSettings(seed=22, events=20_000, skus=300), REFERENCE)
    first, second = halves(scenario)
    targets = dict(zip(Topics().inputs, topics.inputs, strict=True))
    produce_to_kafka(first, kafka_bootstrap, targets)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": own_redis.url,
        "READ_MODEL_PREFIX": redis_namespace.prefix,
        **topic_env(topics),
    }
    availability = [topics.availability(channel) for channel in Channel]

    with flows_running(env, tmp_path) as processes:
        wait_for(
            lambda: records_in(kafka_bootstrap, availability) > 500,
            processes, 120, "availability from the first half",
        )  # fmt: skip
        own_redis.stop()
        before = records_in(kafka_bootstrap, availability)
        produce_to_kafka(second, kafka_bootstrap, targets)
        # The flows keep publishing to Kafka while the read model's server is away.
        wait_for(
            lambda: records_in(kafka_bootstrap, availability) > before + 500,
            processes, 120, "availability published while Redis is down",
        )  # fmt: skip
        time.sleep(2)
        own_redis.start()
        client = redis.Redis.from_url(own_redis.url)

        def read_model_caught_up() -> bool:
            newest = newest_availability(kafka_bootstrap, topics)
            return stored_versions(client, redis_namespace.prefix, newest) == {
                key: update.version for key, update in newest.items()
            }

        wait_for(read_model_caught_up, processes, 60, "the read model caught up")
        client.close()

    logs = "".join(process.log_tail(200_000) for process in processes)
    assert "Redis read model unreachable" in logs
    assert "reachable again" in logs


def stored_versions(
    client: redis.Redis,
    prefix: str,
    keys: Iterable[tuple[str, str, str | None]],
) -> dict[tuple[str, str, str | None], int | None]:
    """The version the read model holds for each key, in one round trip."""
    keys = list(keys)
    with client.pipeline(transaction=False) as pipe:
        for channel, sku, location in keys:
            pipe.hget(availability_key(prefix, channel, sku, location), "version")
        replies = pipe.execute()
    return {key: None if r is None else int(r) for key, r in zip(keys, replies, strict=True)}


def _differences(published: dict[Key, int], truth: dict[Key, int]) -> str:
    """How the published numbers differ from the reference, for a failure to say."""
    keys = sorted(k for k in set(published) | set(truth) if published.get(k) != truth.get(k))
    shown = ", ".join(f"{k}: {published.get(k)} (reference {truth.get(k)})" for k in keys[:8])
    return f"{len(keys)} keys differ; {shown}"


def _on_the_way(bootstrap: str, topics: Topics) -> str:
    """Where the records behind the postings stand, for a failure to say."""
    counted = {
        topic: len(read_topic(bootstrap, topic))
        for topic in (topics.settlements, topics.canonical_settlements, topics.canonical_orders)
    }
    return ", ".join(f"{topic}: {n}" for topic, n in counted.items())
