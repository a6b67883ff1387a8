"""Availability: canonical orders and stock movements in; per-channel available-to-sell out.

    python -m bytewax.run dataflows.availability:flow

Reads `canonical.orders` and `canonical.movements` (written by the normalization flow), keeps
each SKU's on-hand and reservations per location, and publishes each channel's number to
`availability.<channel>` (and to the Redis read model when `REDIS_URL` is set) when it changes,
and oversells to `integration.anomalies`. An unreadable canonical record goes to
`integration.exceptions` with its bytes.

Settings: `KAFKA_BOOTSTRAP_SERVERS`; `REDIS_URL` (optional); `REFERENCE_DATA`;
`SCHEMA_REGISTRY_URL` (optional); `AVAILABILITY_COALESCE_MS` (default 250: changes of one
channel's number for a SKU within this window go out as one update; 0 sends every change);
`AVAILABILITY_OVERSELL_GRACE_S` (default 300: event time a claim waits behind the watermark
before it is judged for oversell); `AVAILABILITY_HOLD_MS` (default 2000: wall time a rise in
stock waits at most for the watermark to pass it); `AVAILABILITY_TAIL` (default true);
`READ_MODEL_PREFIX` (Redis key prefix, default `omni:`); `TOPIC_<NAME>` to rename topics.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from omnichannel import collector, logs, metrics, recovery_owner
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.decoding import CanonicalDecoder
from omnichannel.encoding import RecordEncoder
from omnichannel.kafka_io import CheckedKafkaSink, consume_canonical
from omnichannel.kafka_settings import kafka_brokers_from_env
from omnichannel.partition_ends import PartitionEndsWatch
from omnichannel.reference import reference_from_env
from omnichannel.settings import (
    SettingError,
    env_bool,
    env_int,
    redis_url_from_env,
    schema_registry_url_from_env,
)
from omnichannel.topics import Topics
from operators.availability.order_events import OrderStockEvent, view_decoder
from operators.availability.sku_stock import AvailabilitySettings
from operators.availability.steps import availability
from operators.routing import route_anomaly, route_availability, route_exception
from operators.streams import only
from operators.watermark import Watermark
from state.read_model import DEFAULT_PREFIX, RedisReadModelSink

logger = logging.getLogger(__name__)


def build(
    brokers: list[str],
    settings: AvailabilitySettings,
    topics: Topics,
    encoder: RecordEncoder,
    decoder: CanonicalDecoder,
    redis_url: str | None,
    tail: bool = True,
    prefix: str = DEFAULT_PREFIX,
) -> Dataflow:
    """The availability flow on `brokers`."""
    flow = Dataflow("availability")
    inputs = [topics.canonical_orders, topics.canonical_movements]
    # Event time is settled by what was read: of the source partitions, and of the canonical
    # partitions this process reads (`operators.watermark`).
    watermark = Watermark(read_topics=[topics.canonical_orders, topics.canonical_movements])
    read = consume_canonical(flow, brokers, inputs, decoder, tail, watermark)
    decoded = metrics.tap("meter_decoded", read, metrics.decoded(flow.flow_id, topics))
    # Order events as availability's view of them (`view_decoder`), or whole from a decoder
    # without the view.
    orders: Stream[OrderStockEvent | OrderEvent] = op.filter_map("orders", decoded, _order_event)
    movements = only("movements", decoded, InventoryMovement)
    unreadable = only("unreadable", decoded, ExceptionRecord)
    # Orders become stock changes per order, then every change meets its SKU's positions.
    # Each partition that holds event time back is let go once read to its end.
    sources = [topics.web_orders, topics.pos_orders, topics.marketplace_orders, topics.movements]
    PartitionEndsWatch(brokers, [*sources, *watermark.read_topics], watermark.learn_ends).start()
    published = availability("availability", orders, movements, settings, watermark=watermark)
    updates = metrics.tap("meter_latency", published.updates, metrics.availability_latency)
    found = metrics.tap("meter_anomalies", published.anomalies, metrics.anomalies(flow.flow_id))
    # Routed and encoded a batch at a time.
    encoded = op.merge(
        "all_outputs",
        op.flat_map_batch(
            "encode_updates", updates,
            lambda batch: [encoder.encode(route_availability(u, topics)) for u in batch],
        ),
        op.flat_map_batch(
            "encode_anomalies", found,
            lambda batch: [encoder.encode(route_anomaly(a, topics)) for a in batch],
        ),
        op.flat_map_batch(
            "encode_exceptions", unreadable,
            lambda batch: [encoder.encode(route_exception(e, topics)) for e in batch],
        ),
    )  # fmt: skip
    op.output("produce", encoded, CheckedKafkaSink(brokers))
    if redis_url:
        read_model = RedisReadModelSink(redis_url, prefix=prefix)
        metrics.watch_read_model(read_model)
        op.output("read_model", updates, read_model)
    else:
        logger.warning("REDIS_URL is not set: the Redis read model is not written")
    return flow


def _order_event(record: object) -> OrderStockEvent | OrderEvent | None:
    return record if isinstance(record, OrderStockEvent | OrderEvent) else None


def build_from_env() -> Dataflow:
    """The flow configured from the environment; a bad setting stops it with the setting's name."""
    logs.configure_from_env("availability")
    metrics.serve_from_env("availability")
    registry = schema_registry_url_from_env()
    topics = Topics.from_env()
    flow = build(
        brokers=kafka_brokers_from_env(),
        settings=AvailabilitySettings(
            reference_from_env(),
            coalesce=timedelta(milliseconds=env_int("AVAILABILITY_COALESCE_MS", 250)),
            oversell_grace=timedelta(seconds=_at_least_zero("AVAILABILITY_OVERSELL_GRACE_S", 300)),
            hold=timedelta(milliseconds=_at_least_zero("AVAILABILITY_HOLD_MS", 2000)),
        ),
        topics=topics,
        encoder=RecordEncoder(registry),
        decoder=view_decoder(topics, registry),
        redis_url=redis_url_from_env(),
        tail=env_bool("AVAILABILITY_TAIL", default=True),
        prefix=os.environ.get("READ_MODEL_PREFIX") or DEFAULT_PREFIX,
    )
    collector.configure_from_env()
    recovery_owner.keep_from_env()
    return flow


def _at_least_zero(setting: str, default: int) -> int:
    value = env_int(setting, default)
    if value < 0:
        raise SettingError(f"{setting} must be 0 or more, got {value}")
    return value


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run dataflows.availability:flow` builds the flow on first access.
    if name == "flow":
        return build_from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
