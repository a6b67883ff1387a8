"""A trading day through normalization and availability on the real broker and Redis.

The final number per (channel, SKU[, store]) on the availability topics and in the Redis read
model equals the reference computation; the read model holds the newest version of each key.
"""

from __future__ import annotations

import json
from pathlib import Path

from omnichannel.codec import codec_for
from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.settings import Connections
from omnichannel.topics import Topics
from state.read_model import read_availability
from tests.conftest import RedisNamespace, TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    newest_availability,
    read_contracts,
    read_topic,
    run_flow,
    topic_env,
)
from tests.oracle.availability import final_availability

REFERENCE = load_reference()


def test_day_on_kafka_and_redis_matches_the_oracle(
    connections: Connections,
    kafka_bootstrap: str,
    new_topic: TopicFactory,
    redis_namespace: RedisNamespace,
    tmp_path: Path,
) -> None:
    scenario = generate(ScenarioSettings(seed=7, events=3_000, skus=100), REFERENCE)
    write_jsonl(scenario, tmp_path)
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(Topics().inputs, topics.inputs, strict=True))
    )
    settings = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**settings, "NORMALIZE_TAIL": "false"})
    run_flow(
        "dataflows.availability",
        {
            **settings,
            "AVAILABILITY_TAIL": "false",
            "AVAILABILITY_COALESCE_MS": "50",
            "REDIS_URL": connections.redis_url,
            "READ_MODEL_PREFIX": redis_namespace.prefix,
        },
    )

    codec = codec_for(AvailabilityUpdate, None)
    for channel in Channel:
        for record in read_topic(kafka_bootstrap, topics.availability(channel)):
            update = codec.decode_model(record.value)
            assert (
                record.key
                == (
                    update.sku if update.location is None else f"{update.sku}:{update.location}"
                ).encode()
            )
    newest = newest_availability(kafka_bootstrap, topics)
    expected = final_availability(tmp_path, REFERENCE)
    on_topics = {key: u.available_to_sell for key, u in newest.items() if u.available_to_sell}
    assert on_topics == expected

    in_redis = {}
    for (channel, sku, location), update in newest.items():
        stored = read_availability(
            redis_namespace.client, redis_namespace.prefix, channel, sku, location
        )
        assert stored is not None, (channel, sku, location)
        assert stored["version"] == update.version
        in_redis[(channel, sku, location)] = stored["available"]
    assert {key: n for key, n in in_redis.items() if n} == expected

    anomalies = read_contracts(kafka_bootstrap, topics.anomalies, Anomaly)
    oversells = [a for a in anomalies if a.anomaly_type == "oversell"]
    assert oversells, "a peak day oversells somewhere"
    assert all(a.quantity and a.quantity > 0 for a in oversells)
    # Each movement held up until after a later count of its position is reported, and no other.
    late = [f for f in scenario.manifest["faults"] if f["fault"] == "late_stock_movement"]
    assert late, "the day has a late stock movement"
    held_up = {
        json.loads(scenario.records[f["topic"]][f["offset"]].value)["movement_id"] for f in late
    }
    absorbed = [a for a in anomalies if a.anomaly_type == "movement_absorbed"]
    assert {a.details["movement_id"] for a in absorbed} == held_up
    assert len(oversells) + len(absorbed) == len(anomalies)
