"""Replay without Kafka: the normalization, availability and finance flows over files, in one.

    omni replay --input-dir IN --output-dir OUT [--config FILE] [--workers N]

or, the Bytewax way (several processes too), with `REPLAY_INPUT_DIR`, `REPLAY_OUTPUT_DIR`,
optional `REFERENCE_DATA` and `AVAILABILITY_COALESCE_MS` (default 0 here: every change of a
channel's number is written, so that a replay's output does not depend on its speed):

    python -m bytewax.run dataflows.replay:flow

Inputs are the CHANNELS.md files, `<topic>.jsonl` per input topic; every output topic becomes
an Avro object container file `<topic>.avro`. The steps are those of the Kafka flows, with file
sources and sinks at the edges instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from omnichannel import collector
from omnichannel.contracts.common import Channel
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.file_sink import AvroFilesSink
from omnichannel.file_source import LINES_PER_BATCH, TimeOrderedJsonLinesSource
from omnichannel.reference import ReferenceData, reference_from_env
from omnichannel.settings import env_int, env_str
from omnichannel.topics import Topics
from operators.availability.sku_stock import AvailabilitySettings
from operators.availability.steps import availability
from operators.finance.ledger import FinanceSettings
from operators.finance.steps import finance
from operators.normalize import Normalizer
from operators.routing import (
    route_anomaly,
    route_availability,
    route_exception,
    route_normalized,
    route_posting,
    route_summary,
)


def output_topics(topics: Topics) -> list[str]:
    """Every topic a replay writes a file for."""
    return [
        topics.canonical_orders,
        topics.canonical_movements,
        topics.canonical_settlements,
        topics.exceptions,
        topics.anomalies,
        topics.postings,
        topics.reconciliation,
        *(topics.availability(channel) for channel in Channel),
    ]


def build(
    input_dir: Path,
    output_dir: Path,
    reference: ReferenceData,
    topics: Topics | None = None,
    coalesce: timedelta = timedelta(0),
    batch_size: int = LINES_PER_BATCH,
) -> Dataflow:
    """The replay flow from `input_dir` to `output_dir`, reading `batch_size` records at a time."""
    topics = topics or Topics()
    normalizer = Normalizer.for_topics(reference, topics)
    flow = Dataflow("replay")
    # Every input file, interleaved in the order the records were produced.
    raw = op.input(
        "read_files", flow, TimeOrderedJsonLinesSource(input_dir, topics.inputs, batch_size)
    )
    # Normalization: one canonical event or one exception record per input line.
    normalized = op.map("normalize", raw, lambda r: normalizer.normalize(r, datetime.now(UTC)))
    orders = op.filter_map("orders", normalized, lambda r: r if isinstance(r, OrderEvent) else None)
    movements = op.filter_map(
        "movements", normalized, lambda r: r if isinstance(r, InventoryMovement) else None
    )
    settlements = op.filter_map(
        "settlements", normalized, lambda r: r if isinstance(r, Settlement) else None
    )
    # Availability, as the Kafka flow runs it.
    published = availability(
        "availability", orders, movements, AvailabilitySettings(reference, coalesce=coalesce)
    )
    # Finance, as the Kafka flow runs it.
    books = finance("finance", orders, settlements, FinanceSettings(reference))
    routed = op.merge(
        "all_outputs",
        op.map("route_normalized", normalized, lambda r: route_normalized(r, topics)),
        op.map("route_updates", published.updates, lambda u: route_availability(u, topics)),
        op.map("route_anomalies", published.anomalies, lambda a: route_anomaly(a, topics)),
        op.map("route_postings", books.entries, lambda e: route_posting(e, topics)),
        op.map("route_finance_anomalies", books.anomalies, lambda a: route_anomaly(a, topics)),
        op.map("route_finance_exceptions", books.exceptions, lambda e: route_exception(e, topics)),
        op.map("route_summaries", books.summaries, lambda s: route_summary(s, topics)),
    )
    by_topic = op.map("key_by_topic", routed, lambda r: (r.topic, r))
    op.output("write_files", by_topic, AvroFilesSink(output_dir, output_topics(topics)))
    return flow


def build_from_env() -> Dataflow:
    """The replay configured from the environment; a bad setting stops it with its name."""
    flow = build(
        Path(env_str("REPLAY_INPUT_DIR")),
        Path(env_str("REPLAY_OUTPUT_DIR")),
        reference_from_env(),
        Topics.from_env(),
        coalesce=timedelta(milliseconds=env_int("AVAILABILITY_COALESCE_MS", 0)),
    )
    collector.configure_from_env()
    return flow


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run dataflows.replay:flow` builds the flow on first access.
    if name == "flow":
        return build_from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
