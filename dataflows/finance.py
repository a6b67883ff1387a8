"""Finance: canonical orders and settlements in; balanced ERP postings out.

    python -m bytewax.run dataflows.finance:flow

Reads `canonical.orders` and `canonical.settlements`, checks each order's events for
duplicates, follows its lifecycle (holding events that came before their predecessor for a
grace period of event time), and publishes balanced `JournalEntry` records to `erp.postings`
keyed by idempotency key, once even across a crash and resume (`omnichannel.postings_sink`);
duplicates and ordering problems to `integration.anomalies`; events finance cannot post to
`integration.exceptions`.

Settings: `KAFKA_BOOTSTRAP_SERVERS`; `REFERENCE_DATA`; `SCHEMA_REGISTRY_URL` (optional);
`FINANCE_GRACE_S` (default 3600: how long, in event time, an event waits for its
predecessor); `FINANCE_DEDUPE_HORIZON_H` (default 168: how far back, in event time, re-deliveries
are recognised); `FINANCE_TAIL` (default true); `TOPIC_<NAME>` to rename topics.
"""

from __future__ import annotations

from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from omnichannel import collector, logs, metrics, recovery_owner
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.decoding import CanonicalDecoder
from omnichannel.encoding import RecordEncoder
from omnichannel.kafka_io import CheckedKafkaSink, consume_canonical
from omnichannel.kafka_settings import kafka_brokers_from_env
from omnichannel.partition_ends import PartitionEndsWatch
from omnichannel.postings_sink import Posting, PostingsSink
from omnichannel.reference import reference_from_env
from omnichannel.settings import env_bool, env_int, schema_registry_url_from_env
from omnichannel.topics import Topics
from operators.finance.ledger import FinanceSettings
from operators.finance.steps import finance
from operators.routing import route_anomaly, route_exception, route_posting, route_summary
from operators.streams import only
from operators.watermark import Watermark


def build(
    brokers: list[str],
    settings: FinanceSettings,
    topics: Topics,
    encoder: RecordEncoder,
    decoder: CanonicalDecoder,
    tail: bool = True,
) -> Dataflow:
    """The finance flow on `brokers`."""
    flow = Dataflow("finance")
    inputs = [topics.canonical_orders, topics.canonical_settlements]
    # Event time is settled by what was read: of the source partitions, and of the canonical
    # partitions this process reads (`operators.watermark`).
    watermark = Watermark(read_topics=[topics.canonical_orders])
    read = consume_canonical(flow, brokers, inputs, decoder, tail, watermark)
    decoded = metrics.tap("meter_decoded", read, metrics.decoded(flow.flow_id, topics))
    orders = metrics.tap(
        "meter_order_aging", only("orders", decoded, OrderEvent), metrics.OrderAging()
    )
    settlements = only("settlements", decoded, Settlement)
    unreadable = only("unreadable", decoded, ExceptionRecord)
    # The grace is measured by the watermark; each partition is let go once read to its end.
    sources = [topics.web_orders, topics.pos_orders, topics.marketplace_orders]
    PartitionEndsWatch(brokers, [*sources, *watermark.read_topics], watermark.learn_ends).start()
    books = finance("finance", orders, settlements, settings, watermark)
    found = metrics.tap("meter_anomalies", books.anomalies, metrics.anomalies(flow.flow_id))
    refused = metrics.tap("meter_refused", books.exceptions, metrics.postings_refused(flow.flow_id))
    summaries = metrics.tap("meter_reconciliation", books.summaries, metrics.Reconciliation())
    # Postings go once, across crashes too; the rest is at least once (and harmless twice).
    # Each carries its entry's event time: the sink measures the ERP posting delay at commit.
    postings = op.map(
        "encode_postings",
        books.entries,
        lambda e: Posting.of(encoder.encode(route_posting(e, topics)), e),
    )
    op.output(
        "produce_postings",
        op.key_on("key_by_idempotency_key", postings, lambda r: (r.key or b"").decode()),
        PostingsSink(brokers, topics.postings),
    )
    routed = op.merge(
        "all_outputs",
        op.map("route_anomalies", found, lambda a: route_anomaly(a, topics)),
        op.map("route_exceptions", refused, lambda e: route_exception(e, topics)),
        op.map("route_unreadable", unreadable, lambda e: route_exception(e, topics)),
        op.map("route_summaries", summaries, lambda s: route_summary(s, topics)),
    )
    op.output("produce", op.map("encode", routed, encoder.encode), CheckedKafkaSink(brokers))
    return flow


def build_from_env() -> Dataflow:
    """The flow configured from the environment; a bad setting stops it with the setting's name."""
    logs.configure_from_env("finance")
    metrics.serve_from_env("finance")
    registry = schema_registry_url_from_env()
    topics = Topics.from_env()
    flow = build(
        brokers=kafka_brokers_from_env(),
        settings=FinanceSettings(
            reference_from_env(),
            grace=timedelta(seconds=env_int("FINANCE_GRACE_S", 3600)),
            dedupe_horizon=timedelta(hours=env_int("FINANCE_DEDUPE_HORIZON_H", 168)),
        ),
        topics=topics,
        encoder=RecordEncoder(registry),
        decoder=CanonicalDecoder(topics, registry),
        tail=env_bool("FINANCE_TAIL", default=True),
    )
    collector.configure_from_env()
    recovery_owner.keep_from_env()
    return flow


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run dataflows.finance:flow` builds the flow on first access.
    if name == "flow":
        return build_from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
