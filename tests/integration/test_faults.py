"""The flows ride out their servers going away: the broker for 10 seconds, Redis for a while.

Each test runs the three flows (`omni run`, recovery on) tailing a day that arrives in two
halves, takes a server down between the halves while the flows work, brings it back, and waits
for the flows to settle. No flow process may die; nothing may be lost or doubled.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import redis

from omnichannel.contracts.common import Channel
from omnichannel.kafka_admin import ensure_topics
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from state.read_model import availability_key
from tests.conftest import RedisNamespace, TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    newest_availability,
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


def test_flows_ride_out_the_broker_stopped_for_ten_seconds(
    own_broker: OwnBroker, tmp_path: Path
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
    produce_to_kafka(first, bootstrap)
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SNAPSHOT_INTERVAL_S": "2"}

    with flows_running(env, tmp_path) as processes:
        wait_for(
            lambda: records_in(bootstrap, [topics.postings]) > 1_000,
            processes, 120, "postings from the first half",
        )  # fmt: skip
        own_broker.stop()
        stopped = time.monotonic()
        while time.monotonic() - stopped < 10:
            for process in processes:
                assert process.running, f"{process.name} died:\n{process.log_tail()}"
            time.sleep(0.5)
        own_broker.start()
        produce_to_kafka(second, bootstrap)
        wait_for(
            lambda: len(posted_keys(bootstrap, topics)) >= len(expected),
            processes, SETTLE_S, "every expected posting",
            lambda: f"missing {sorted(expected - set(posted_keys(bootstrap, topics)))[:5]}, "
            f"extra {sorted(set(posted_keys(bootstrap, topics)) - expected)[:5]}",
        )  # fmt: skip
        time.sleep(3)  # anything doubled late would be on the topic by now

    posted = posted_keys(bootstrap, topics)
    assert [key for key, count in posted.items() if count > 1] == []
    assert set(posted) == expected
    newest = newest_availability(bootstrap, topics)
    truth = final_availability(tmp_path / "day", REFERENCE)
    assert {k: u.available_to_sell for k, u in newest.items() if u.available_to_sell} == truth
    logs = "".join(process.log_tail(200_000) for process in processes)
    assert "--- start 2" not in logs, "a flow was started again: it did not ride the outage out"


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
