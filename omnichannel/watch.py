"""Print a topic's records decoded from Avro, one JSON object a line: `omni watch TOPIC`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer

from omnichannel.codec import RecordCodec, codec_for
from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Contract
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.kafka_settings import client_config
from omnichannel.settings import SettingError
from omnichannel.topics import Topics


def contract_of(topic: str, topics: Topics) -> type[Contract]:
    """The contract a project topic carries; a setting error for a topic that is not ours."""
    models: dict[str, type[Contract]] = {
        topics.canonical_orders: OrderEvent,
        topics.canonical_movements: InventoryMovement,
        topics.canonical_settlements: Settlement,
        topics.exceptions: ExceptionRecord,
        topics.anomalies: Anomaly,
        topics.postings: JournalEntry,
    }
    if topic in models:
        return models[topic]
    if topic.startswith(topics.availability_prefix):
        return AvailabilityUpdate
    raise SettingError(f"{topic} is not one of the project's Avro topics")


def watch(
    brokers: list[str], topic: str, from_beginning: bool, schema_registry_url: str | None
) -> Iterator[str]:
    """Each record of the topic as a JSON line, as it arrives."""
    codec: RecordCodec[Contract] = codec_for(
        contract_of(topic, Topics.from_env()), schema_registry_url, topic
    )
    consumer = Consumer(
        client_config(brokers)
        | {
            "group.id": f"omni-watch-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
            # Postings are written in transactions: only what was committed is shown.
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    try:
        while True:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                raise RuntimeError(f"{topic}: {error}")
            record = codec.decode_model(message.value() or b"")
            yield json.dumps(
                {
                    "partition": message.partition(),
                    "offset": message.offset(),
                    **record.model_dump(mode="json"),
                }
            )
    finally:
        consumer.close()
