"""Replay exception records to their source topics, once the reference data is fixed.

Reads `integration.exceptions` from the beginning to its end, chooses the records to send
again (by default those that the current reference data now maps; `--all` for every one,
`--reason` to pick reasons), and produces their raw key and value, unchanged, to the topic they
came from, with a header counting the replays. A record replayed twice reaches the flows as an
exact re-delivery, which they recognise by its event id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from omnichannel.codec import codec_for
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.kafka_io import REPLAY_COUNT_HEADER
from omnichannel.kafka_settings import client_config, producer_config
from operators.adapters.raw import RawRecord
from operators.normalize import Normalizer

EXCEPTION_ID_HEADER = "omni-exception-id"


@dataclass
class ReplayReport:
    """What a replay read, sent and left, by reason."""

    read: int = 0
    replayed: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)


def choose(
    records: Iterable[ExceptionRecord],
    normalizer: Normalizer | None,
    reasons: frozenset[ExceptionReason] | None = None,
) -> Iterator[tuple[ExceptionRecord, bool]]:
    """Each record with whether to replay it: its reason is wanted and, with a normalizer, it
    now maps to a canonical event."""
    now = datetime.now(UTC)
    for record in records:
        wanted = reasons is None or record.reason in reasons
        if wanted and normalizer is not None:
            wanted = still_refused(record, normalizer, now) is None
        yield record, wanted


def still_refused(
    record: ExceptionRecord, normalizer: Normalizer, now: datetime
) -> ExceptionRecord | None:
    """The exception record normalization would make of the record again, with the reference
    data the normalizer holds; None when it now maps to a canonical event."""
    raw = RawRecord(
        record.source.topic,
        record.source.partition,
        record.source.offset,
        record.raw_key,
        record.raw_value,
    )
    again = normalizer.normalize(raw, now)
    return again if isinstance(again, ExceptionRecord) else None


def replay_headers(record: ExceptionRecord) -> list[tuple[str, str | bytes | None]]:
    """The headers a replayed record carries: its replay count, and the case it replays."""
    return [
        (REPLAY_COUNT_HEADER, str(record.replay_count + 1).encode()),
        (EXCEPTION_ID_HEADER, record.exception_id.encode()),
    ]


def read_exceptions(
    brokers: list[str], topic: str, schema_registry_url: str | None = None
) -> Iterator[ExceptionRecord]:
    """Every exception record on the topic, from its beginning to its current end."""
    codec = codec_for(ExceptionRecord, schema_registry_url, topic)
    consumer = Consumer(
        client_config(brokers)
        | {
            "group.id": "omni-exception-replay",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # Records retention deletes while they are read stop the replay, not go unreplayed.
            "auto.offset.reset": "error",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions
        }
        pending = {p for p, end in ends.items() if end > 0}
        while pending:
            message = consumer.poll(10.0)
            if message is None:
                raise TimeoutError(f"{topic}: nothing read for 10s, {len(pending)} partitions left")
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                raise RuntimeError(f"{topic}: {error}")
            value = message.value()
            if value is not None:
                yield codec.decode_model(value)
            if (message.offset() or 0) + 1 >= ends[message.partition()]:
                pending.discard(message.partition())
    finally:
        consumer.close()


def replay(
    brokers: list[str],
    exceptions_topic: str,
    normalizer: Normalizer | None,
    reasons: frozenset[ExceptionReason] | None = None,
    schema_registry_url: str | None = None,
) -> ReplayReport:
    """Send the chosen exception records back to their source topics; report what happened."""
    report = ReplayReport()
    producer = Producer(producer_config(brokers))
    refused: list[str] = []

    def on_delivery(err: KafkaError | None, _message: object) -> None:
        if err is not None:
            refused.append(str(err))

    records = read_exceptions(brokers, exceptions_topic, schema_registry_url)
    for record, wanted in choose(records, normalizer, reasons):
        report.read += 1
        if not wanted:
            report.kept[record.reason.value] += 1
            continue
        producer.produce(
            record.source.topic,
            key=record.raw_key,
            value=record.raw_value,
            headers=replay_headers(record),
            on_delivery=on_delivery,
        )
        producer.poll(0)
        report.replayed[record.reason.value] += 1
    if producer.flush(60) or refused:
        raise RuntimeError(f"replay: {len(refused)} records refused by the broker: {refused[:1]}")
    return report
