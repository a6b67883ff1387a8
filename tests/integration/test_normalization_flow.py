"""A generated trading day through the normalization flow on the real broker.

Every input record comes out exactly once, as a canonical event or as an exception record,
and the counts per topic and the refused records are exactly those of the generator's manifest.
"""

from __future__ import annotations

from collections import Counter

from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka
from omnichannel.topics import Topics
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    read_contracts,
    run_flow,
    topic_env,
)

DEFAULT = Topics()


def test_generated_day_matches_the_manifest(kafka_bootstrap: str, new_topic: TopicFactory) -> None:
    scenario = generate(ScenarioSettings(seed=42, events=3_000, skus=120), load_reference())
    topics = fresh_topics(new_topic)
    renamed = dict(zip(DEFAULT.inputs, topics.inputs, strict=True))
    produce_to_kafka(scenario, kafka_bootstrap, renamed)

    run_flow(
        "dataflows.normalization",
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "NORMALIZE_TAIL": "false",
            **topic_env(topics),
        },
    )

    outputs = {
        DEFAULT.canonical_orders: (topics.canonical_orders, OrderEvent),
        DEFAULT.canonical_movements: (topics.canonical_movements, InventoryMovement),
        DEFAULT.canonical_settlements: (topics.canonical_settlements, Settlement),
        DEFAULT.exceptions: (topics.exceptions, ExceptionRecord),
    }
    decoded = {
        default: read_contracts(kafka_bootstrap, topic, model)
        for default, (topic, model) in outputs.items()
    }
    expected = scenario.manifest["expected_counts"]
    assert {topic: len(records) for topic, records in decoded.items()} == {
        topic: expected.get(topic, 0) for topic in outputs
    }

    # Each input record is accounted for exactly once, by its source coordinates.
    original = {kafka: default for default, kafka in renamed.items()}
    seen = Counter(
        (original[record.source.topic], record.source.offset)
        for records in decoded.values()
        for record in records
    )
    assert [where for where, times in seen.items() if times != 1] == []
    assert sum(seen.values()) == scenario.manifest["total_events"]

    refused = {
        (original[record.source.topic], record.source.offset): f"exception:{record.reason}"
        for record in decoded[DEFAULT.exceptions]
    }
    injected = {
        (fault["topic"], fault["offset"]): fault["expected"]
        for fault in scenario.manifest["faults"]
        if fault["expected"].startswith("exception:")
    }
    assert refused == injected
    # The exception keeps the raw bytes exactly as produced.
    for record in decoded[DEFAULT.exceptions]:
        topic = original[record.source.topic]
        assert record.raw_value == scenario.records[topic][record.source.offset].value
