"""Normalization: channel, marketplace and warehouse feeds in; canonical events and exceptions out.

    python -m bytewax.run dataflows.normalization:flow

Reads every input topic (`orders.web`, `orders.pos`, `orders.marketplace`,
`settlements.marketplace`, `inventory.movements`), maps each record through its channel's
adapter against the reference data, and writes exactly one record per input: a canonical event
to `canonical.orders`, `canonical.movements` or `canonical.settlements`, or an exception record
with the raw bytes to `integration.exceptions`.

Settings: `KAFKA_BOOTSTRAP_SERVERS`; `REFERENCE_DATA` (a reference TOML file, default the
bundled one); `SCHEMA_REGISTRY_URL` (optional: Confluent wire format instead of single-object
encoding); `NORMALIZE_TAIL` (default true; false stops at the end of the inputs);
`TOPIC_<NAME>` to rename any topic (see `omnichannel.topics`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from omnichannel import collector, logs, metrics, recovery_owner
from omnichannel.encoding import RecordEncoder
from omnichannel.kafka_io import CheckedKafkaSink, log_consumer_error, raw_record
from omnichannel.kafka_settings import kafka_brokers_from_env, source_config
from omnichannel.kafka_source import consume, idle_poll_from_env
from omnichannel.reference import reference_from_env
from omnichannel.settings import env_bool, schema_registry_url_from_env
from omnichannel.topics import Topics
from operators.normalize import Normalizer
from operators.routing import route_normalized


def build(
    brokers: list[str],
    normalizer: Normalizer,
    topics: Topics,
    encoder: RecordEncoder,
    tail: bool = True,
    idle_poll: timedelta | None = None,
) -> Dataflow:
    """The normalization flow on `brokers`; `idle_poll`: read with `PromptKafkaSource`."""
    flow = Dataflow("normalization")
    # Every input feed; Kafka partitions are spread over the workers, nothing is exchanged.
    consumed = consume(
        "consume",
        flow,
        brokers=brokers,
        topics=topics.inputs,
        tail=tail,
        add_config=source_config(brokers),
        idle_poll=idle_poll,
    )
    op.inspect("log_consumer_errors", consumed.errs, log_consumer_error)
    read = metrics.tap("meter_consumed", consumed.oks, metrics.consumed(flow.flow_id))
    # One canonical event or one exception record per input record, never none; a batch at a
    # time.
    normalized = op.flat_map_batch(
        "normalize",
        read,
        lambda batch: normalizer.normalize_batch(map(raw_record, batch), datetime.now(UTC)),
    )
    # Counted: in = processed + exceptions, per source topic and channel.
    counted = metrics.tap(
        "meter_normalized",
        normalized,
        metrics.normalized(flow.flow_id, metrics.input_channels(topics)),
    )
    encoded = op.flat_map_batch(
        "route_and_encode",
        counted,
        lambda batch: [encoder.encode(route_normalized(result, topics)) for result in batch],
    )
    op.output("produce", encoded, CheckedKafkaSink(brokers))
    return flow


def build_from_env() -> Dataflow:
    """The flow configured from the environment; a bad setting stops it with the setting's name."""
    logs.configure_from_env("normalization")
    metrics.serve_from_env("normalization")
    topics = Topics.from_env()
    flow = build(
        brokers=kafka_brokers_from_env(),
        normalizer=Normalizer.for_topics(reference_from_env(), topics),
        topics=topics,
        encoder=RecordEncoder(schema_registry_url_from_env()),
        tail=env_bool("NORMALIZE_TAIL", default=True),
        idle_poll=idle_poll_from_env(),
    )
    collector.configure_from_env()
    recovery_owner.keep_from_env()
    return flow


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run dataflows.normalization:flow` builds the flow on first access.
    if name == "flow":
        return build_from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
