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

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

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
    Routed,
    route_anomaly,
    route_availability,
    route_exception,
    route_normalized,
    route_posting,
    route_summary,
)
from operators.streams import only

R = TypeVar("R")


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
    snapshots: bool = True,
) -> Dataflow:
    """The replay flow from `input_dir` to `output_dir`, reading `batch_size` records at a time.

    `snapshots=False` when it runs without recovery (`omni replay`, `make demo`): its stateful
    steps then do not copy their state for the snapshots nobody keeps."""
    topics = topics or Topics()
    normalizer = Normalizer.for_topics(reference, topics)
    flow = Dataflow("replay")
    # Every input file, interleaved in the order the records were produced.
    raw = op.input(
        "read_files", flow, TimeOrderedJsonLinesSource(input_dir, topics.inputs, batch_size)
    )
    # Normalization: one canonical event or one exception record per input line.
    normalized = op.flat_map_batch(
        "normalize", raw, lambda batch: normalizer.normalize_batch(batch, datetime.now(UTC))
    )
    orders = only("orders", normalized, OrderEvent)
    movements = only("movements", normalized, InventoryMovement)
    settlements = only("settlements", normalized, Settlement)
    # Availability, as the Kafka flow runs it.
    published = availability(
        "availability",
        orders,
        movements,
        AvailabilitySettings(reference, coalesce=coalesce),
        snapshots=snapshots,
    )
    # Finance, as the Kafka flow runs it.
    books = finance("finance", orders, settlements, FinanceSettings(reference), snapshots=snapshots)
    # Every output keyed by its topic, a batch at a time.
    by_topic = op.merge(
        "all_outputs",
        _by_topic("route_normalized", normalized, route_normalized, topics),
        _by_topic("route_updates", published.updates, route_availability, topics),
        _by_topic("route_anomalies", published.anomalies, route_anomaly, topics),
        _by_topic("route_postings", books.entries, route_posting, topics),
        _by_topic("route_finance_anomalies", books.anomalies, route_anomaly, topics),
        _by_topic("route_finance_exceptions", books.exceptions, route_exception, topics),
        _by_topic("route_summaries", books.summaries, route_summary, topics),
    )
    op.output("write_files", by_topic, AvroFilesSink(output_dir, output_topics(topics)))
    return flow


def _by_topic(
    step_id: str, up: Stream[R], route: Callable[[R, Topics], Routed], topics: Topics
) -> Stream[tuple[str, Routed]]:
    def routed(batch: list[R]) -> list[tuple[str, Routed]]:
        return [(out.topic, out) for out in (route(record, topics) for record in batch)]

    return op.flat_map_batch(step_id, up, routed)


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
