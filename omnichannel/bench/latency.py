"""`make bench-latency`: input produced to output visible, per output topic, under a fixed load.

The three flows run tailing, as in production. A generated day's records are produced to the
raw topics in their order at a fixed rate (default 5,000 events/s) for a fixed time (default
60 s), without a timestamp: each record's Kafka timestamp is the moment it was handed to the
producer (CreateTime). The flows' output topics are created with
`message.timestamp.type=LogAppendTime`: each output record's timestamp is the moment the broker
appended it, when a consumer can first see it. After the load, and once the flows have caught
up, every output topic is read back and each record is linked to the input behind it:

- canonical topics and normalization's exceptions: by the source coordinates they carry (their
  `source.timestamp` is the input's Kafka timestamp);
- `erp.postings`: by `source_event_ids`, the newest of the canonical events behind the entry;
- `availability.<channel>` and oversell anomalies: by (SKU, event time), the newest input
  carrying that SKU at that event time that was produced before the update (an update carries
  the newest event time behind it);
- finance's anomalies: by the canonical record named in `details.source`.

Reconciliation summaries (hourly windows) have no single input and are not linked. Latency is
output timestamp less input timestamp, in milliseconds (both at millisecond resolution, on the
same host's clock); only inputs produced during the timed load count, not the warm-up.

The day opens with a stock count of every SKU-location: those records (and a few trading ones)
are produced untimed and at once, and the flows catch up, before the timed load of the day's
trading begins.

Each measurement is run twice: with `AVAILABILITY_COALESCE_MS=0` (every change published at
once) and with the default 250 ms window.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from rich.console import Console
from rich.table import Table

from omnichannel.bench.flows import FLOWS, FlowSettings, start_flow
from omnichannel.bench.machine import describe_machine
from omnichannel.bench.plot import bar_chart
from omnichannel.bench.processes import Child, Usage
from omnichannel.bench.results import document_head, wide_console, write_json
from omnichannel.bench.scenario_input import DaySize, connect
from omnichannel.bench.workspace import (
    END_MARKER_KEY,
    ExceptionWatch,
    Workspace,
    all_topics,
    read_all,
)
from omnichannel.codec import RecordCodec, codec_for
from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel, Contract
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.kafka_settings import producer_config
from omnichannel.reference import load_reference
from omnichannel.scenario.generator import generate
from omnichannel.scenario.records import InputRecord
from omnichannel.topics import Topics

DEFAULT_OUT = Path("out/bench")
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
WARMUP_TIMEOUT_S = 180.0
WARMUP_RECORDS = 200
QUIET_S = 3.0
LOAD_LINGER_MS = 5
LOAD_AHEAD_S = 0.001
PERCENTILES = (50.0, 99.0, 99.9)


@dataclass(frozen=True)
class LatencySettings:
    rate: int = 5_000
    seconds: float = 60.0
    coalesce_ms: tuple[int, ...] = (0, 250)
    sku_locations: int = 100_000
    seed: int = 0
    partitions: int = 4
    redis: bool = True
    out_dir: Path = DEFAULT_OUT
    drain_timeout_s: float = 300.0
    gc_thresholds: tuple[int, int, int] | None = None
    # The flows that run; normalization always does (it feeds the others).
    flows: tuple[str, ...] = FLOWS


@dataclass
class Percentiles:
    """Latencies of one output topic, in milliseconds."""

    linked: int = 0
    unlinked: int = 0
    p50: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, latencies: list[float], unlinked: int) -> Percentiles:
        if not latencies:
            return cls(0, unlinked)
        ordered = sorted(latencies)
        p50, p99, p999 = (percentile(ordered, p) for p in PERCENTILES)
        return cls(len(ordered), unlinked, p50, p99, p999, ordered[-1])


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


@dataclass
class _Links:
    """What the canonical records say about the inputs behind them."""

    by_event_id: dict[str, int] = field(default_factory=dict)
    by_coordinates: dict[tuple[str, int, int], int] = field(default_factory=dict)
    # (sku, event time in microseconds) -> input timestamps (ms), sorted
    by_sku_time: dict[tuple[str, int], list[int]] = field(default_factory=dict)


def run_latency(settings: LatencySettings, console: Console | None = None) -> dict[str, Any]:
    """Both coalescing settings under the same load; writes `latency.json` and `latency.svg`."""
    console = console or wide_console()
    connections = connect()
    reference = load_reference()
    # The day opens with a stock count of every SKU-location; the timed load is the trading after.
    size = DaySize(settings.sku_locations + int(settings.rate * settings.seconds)
                   + WARMUP_RECORDS + 100, settings.sku_locations, settings.seed)  # fmt: skip
    scenario = generate(size.settings(reference), reference)
    records = sorted(
        ((topic, record) for topic, rs in scenario.records.items() for record in rs),
        key=lambda pair: pair[1].timestamp_ms,
    )
    started = datetime.now(UTC)
    machine = describe_machine()
    runs = []
    workspace = Workspace(connections.kafka_brokers)
    try:
        for coalesce in settings.coalesce_ms:
            console.print(f"coalescing {coalesce} ms: {settings.rate:,} events/s for "
                          f"{settings.seconds:g} s")  # fmt: skip
            flows = FlowSettings(
                connections.kafka_brokers,
                connections.redis_url if settings.redis else None,
                f"bench:{workspace.run_id}:{coalesce}:",
                coalesce,
                gc_thresholds=settings.gc_thresholds,
            )
            runs.append(_one_run(workspace, flows, settings, records, coalesce, console))
    finally:
        workspace.delete_all()
    document = {
        **document_head("latency", workspace.run_id, started, machine),
        "settings": {
            "flows": list(settings.flows),
            "offered_events_per_s": settings.rate,
            "seconds": settings.seconds,
            "sku_locations": settings.sku_locations,
            "partitions": settings.partitions,
            "redis_read_model": settings.redis,
            "recovery": "off (no -r)",
            "load_producer_linger_ms": LOAD_LINGER_MS,
            "untimed_before_load": "the day's opening stock count of every SKU-location and "
            f"{WARMUP_RECORDS} trading records, produced at once; the flows catch up first",
            "latency": "output LogAppendTime - input CreateTime, ms; see omnichannel.bench.latency",
        },
        "runs": runs,
    }
    write_json(settings.out_dir / "latency.json", document)
    bars = [
        (f"{topic} p99, coalesce {run['coalesce_ms']}", values["p99"])
        for run in runs
        for topic, values in run["topics"].items()
        if values["p99"] is not None
    ]
    chart = bar_chart(f"p99 latency per output topic at {settings.rate:,} events/s (ms)", bars,
                      "milliseconds, input produced to output appended")  # fmt: skip
    (settings.out_dir / "latency.svg").write_text(chart + "\n", encoding="utf-8")
    _print(runs, console)
    console.print(f"wrote {settings.out_dir / 'latency.json'} and latency.svg")
    return document


def _one_run(
    workspace: Workspace,
    flows: FlowSettings,
    settings: LatencySettings,
    records: list[tuple[str, InputRecord]],
    coalesce: int,
    console: Console,
) -> dict[str, Any]:
    stage = workspace.stage(f"latency{coalesce}")
    workspace.create(stage.inputs, settings.partitions)
    outputs = [name for name in all_topics(stage) if name not in stage.inputs]
    workspace.create(outputs, settings.partitions, LOG_APPEND_TIME)
    log_dir = settings.out_dir / "logs" / workspace.run_id
    renamed = dict(zip(Topics().inputs, stage.inputs, strict=True))
    children = {
        flow: start_flow(flow, flows, stage, log_dir, tail=True, name=f"latency{coalesce}-{flow}")
        for flow in settings.flows
    }
    usages: dict[str, Usage] = {}
    try:
        warmup = _warm_up(workspace, stage, children, settings.flows)
        console.print(f"  the flows answered after {warmup:.1f} s; producing")
        canonical = [stage.canonical_orders, stage.canonical_movements,
                     stage.canonical_settlements, stage.exceptions]  # fmt: skip
        # Untimed, as fast as they go: the opening stock of every SKU-location, then a few
        # trading records (each step's first record of a kind builds its codec); once the
        # flows have caught up, the timed load of the day's trading at the offered rate.
        opening, trading = opening_stock(records)
        before = sum(workspace.end_offsets(canonical).values())
        untimed = _produce(workspace, opening + trading[:WARMUP_RECORDS], renamed, None)
        settled = _drain(workspace, canonical, outputs, before + untimed["produced"],
                         settings.drain_timeout_s, children)  # fmt: skip
        console.print(f"  {untimed['produced']:,} records of opening stock and warm-up, "
                      f"caught up after {settled} s")  # fmt: skip
        before = sum(workspace.end_offsets(canonical).values())
        load = _produce(workspace, trading[WARMUP_RECORDS:], renamed, settings)
        # Every input gives one canonical record or exception.
        caught_up = _drain(workspace, canonical, outputs, before + load["produced"],
                           settings.drain_timeout_s, children)  # fmt: skip
    finally:
        for flow, child in children.items():
            usages[flow] = child.stop()
    console.print("  reading the outputs back")
    topics = _latencies(workspace.brokers, stage, load["began_ms"])
    return {
        "coalesce_ms": coalesce,
        "load": load,
        "caught_up_s_after_load": caught_up,
        # By the project's own topic names (the run's prefix taken off).
        "topics": {name.split(".", 3)[-1]: vars(values) for name, values in topics.items()},
        "flows": {flow: usage.as_json() for flow, usage in usages.items()},
    }


def _warm_up(
    workspace: Workspace, stage: Topics, children: dict[str, Child], flows: tuple[str, ...]
) -> float:
    """Wait until every flow reads its input: each refuses an end marker put on it."""
    began = time.monotonic()
    raw = workspace.append_end_markers([stage.web_orders])
    canonical = workspace.append_end_markers([stage.canonical_orders])
    watch = ExceptionWatch(workspace.brokers, stage.exceptions)
    try:
        steps = {"normalization": ("normalize", raw), "availability": ("availability", canonical),
                 "finance": ("finance", canonical)}  # fmt: skip
        for step, markers in (steps[flow] for flow in flows):
            while True:
                try:
                    watch.wait_for(markers, step, timeout_s=1.0)
                    break
                except TimeoutError:
                    ended = [flow for flow, child in children.items() if child.poll()]
                    if ended:
                        raise RuntimeError(f"{ended} ended during the warm-up") from None
                    if time.monotonic() - began > WARMUP_TIMEOUT_S:
                        raise
    finally:
        watch.close()
    return time.monotonic() - began


def opening_stock(
    records: list[tuple[str, InputRecord]],
) -> tuple[list[tuple[str, InputRecord]], list[tuple[str, InputRecord]]]:
    """The day's records split: its opening stock movements (the run of movements at the
    day's first timestamp), and everything after them."""
    first = records[0][1].timestamp_ms if records else 0
    count = 0
    for topic, record in records:
        if topic != Topics().movements or record.timestamp_ms != first:
            break
        count += 1
    return records[:count], records[count:]


def _produce(
    workspace: Workspace,
    records: list[tuple[str, InputRecord]],
    renamed: dict[str, str],
    settings: LatencySettings | None,
) -> dict[str, Any]:
    """Records at the offered rate for the set time (all of them at once without `settings`),
    each stamped when handed to the producer."""
    # Batched as a channel's producer would (librdkafka's default linger, 5 ms), which the
    # latency includes: sent one by one, 5,000 produce requests a second cost the single
    # broker most of a core, taken from the flows on the same two cores.
    producer = Producer({**producer_config(workspace.brokers), "linger.ms": LOAD_LINGER_MS})
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(str(error))

    rate = settings.rate if settings else None
    total = min(len(records), int(settings.rate * settings.seconds)) if settings else len(records)
    began = time.perf_counter()
    began_ms = int(time.time() * 1000)
    behind = 0
    for n in range(total):
        if rate is not None:
            delay = began + n / rate - time.perf_counter()
            # Sleeping only when a millisecond ahead keeps the generator's own CPU low (it
            # shares the cores with the flows); a record is at most that early.
            if delay > LOAD_AHEAD_S:
                time.sleep(delay)
            elif delay < -0.01:
                behind += 1
        topic, record = records[n]
        while True:
            try:
                producer.produce(renamed[topic], key=record.key.encode(), value=record.value,
                                 on_delivery=delivered)  # fmt: skip
                break
            except BufferError:  # the local queue is full (untimed): let deliveries drain it
                producer.poll(0.05)
        producer.poll(0)
    seconds = time.perf_counter() - began
    producer.flush(60)
    if failures:
        raise RuntimeError(f"{len(failures)} records not delivered; first: {failures[0]}")
    return {
        "produced": total,
        "seconds": round(seconds, 3),
        "achieved_events_per_s": round(total / seconds, 1),
        "late_by_more_than_10ms": behind,
        "began_ms": began_ms,
    }


def _drain(
    workspace: Workspace,
    canonical: list[str],
    outputs: list[str],
    produced: int,
    timeout_s: float,
    children: dict[str, Child],
) -> float | None:
    """Wait until normalization wrote a record per input and no output grew for a while.

    Returns the seconds after the load it took, or None when `timeout_s` ran out first.
    """
    began = time.monotonic()
    last: dict[str, int] = {}
    quiet_since = time.monotonic()
    while time.monotonic() - began < timeout_s:
        counts = workspace.end_offsets(outputs)
        normalized = sum(counts[name] for name in canonical)
        if counts != last:
            last, quiet_since = counts, time.monotonic()
        if normalized >= produced and time.monotonic() - quiet_since >= QUIET_S:
            return round(quiet_since - began, 2)
        if any(child.poll() is not None for child in children.values()):
            raise RuntimeError("a flow ended while draining: see its log")
        time.sleep(0.5)
    return None


def _latencies(brokers: list[str], stage: Topics, since_ms: int) -> dict[str, Percentiles]:
    """Every output record linked to its input; percentiles per topic."""
    links = _Links()
    results: dict[str, Percentiles] = {}

    def collect(topic: str, model: type[Contract], link: Callable[[Any, int], int | None]) -> None:
        codec: RecordCodec[Contract] = codec_for(model, None)
        latencies: list[float] = []
        unlinked = 0
        for message in read_all(brokers, topic):
            if message.key() == END_MARKER_KEY:
                continue
            record = codec.decode_model(message.value() or b"")
            appended = message.timestamp()[1]
            produced = link(record, appended)
            if produced is None:
                unlinked += 1
            elif produced >= since_ms:
                latencies.append(float(appended - produced))
        results[topic] = Percentiles.of(latencies, unlinked)

    def canonical(record: Any, _: int) -> int | None:
        stamp: datetime | None = record.source.timestamp
        if stamp is None:
            return None
        produced = round(stamp.timestamp() * 1000)
        where = (record.source.topic, record.source.partition, record.source.offset)
        links.by_coordinates[where] = produced
        if isinstance(record, OrderEvent):
            links.by_event_id[record.event_id] = produced
            when = _micros(record.event_time)
            for line in record.lines:
                links.by_sku_time.setdefault((line.sku, when), []).append(produced)
        elif isinstance(record, InventoryMovement):
            key = (record.sku, _micros(record.event_time))
            links.by_sku_time.setdefault(key, []).append(produced)
        elif isinstance(record, Settlement):
            links.by_event_id[f"settlement:{record.settlement_id}"] = produced
        return produced

    collect(stage.canonical_orders, OrderEvent, canonical)
    collect(stage.canonical_movements, InventoryMovement, canonical)
    collect(stage.canonical_settlements, Settlement, canonical)
    for stamps in links.by_sku_time.values():
        stamps.sort()
    collect(stage.exceptions, ExceptionRecord, _exception_link(links))
    collect(stage.postings, JournalEntry, _posting_link(links))
    for channel in Channel:
        collect(stage.availability(channel), AvailabilityUpdate, _update_link(links))
    collect(stage.anomalies, Anomaly, _anomaly_link(links))
    return results


def _exception_link(links: _Links) -> Callable[[Any, int], int | None]:
    def link(record: ExceptionRecord, _: int) -> int | None:
        stamp = record.source.timestamp
        if record.step == "normalize" and stamp is not None:
            return round(stamp.timestamp() * 1000)
        # Refused by availability or finance: the canonical record it was.
        return links.by_coordinates.get(
            (record.source.topic, record.source.partition, record.source.offset)
        )

    return link


def _posting_link(links: _Links) -> Callable[[Any, int], int | None]:
    def link(entry: JournalEntry, _: int) -> int | None:
        found = [links.by_event_id[e] for e in entry.source_event_ids if e in links.by_event_id]
        return max(found) if found else None

    return link


def _newest_before(stamps: list[int] | None, appended: int) -> int | None:
    if not stamps:
        return None
    index = bisect.bisect_right(stamps, appended)
    return stamps[index - 1] if index else None


def _update_link(links: _Links) -> Callable[[Any, int], int | None]:
    def link(update: AvailabilityUpdate, appended: int) -> int | None:
        stamps = links.by_sku_time.get((update.sku, _micros(update.event_time)))
        return _newest_before(stamps, appended)

    return link


def _anomaly_link(links: _Links) -> Callable[[Any, int], int | None]:
    def link(anomaly: Anomaly, appended: int) -> int | None:
        source = anomaly.details.get("source")
        if source is not None:
            topic, partition, offset = source.rsplit(":", 2)
            return links.by_coordinates.get((topic, int(partition), int(offset)))
        sku = anomaly.details.get("sku")
        if sku is not None:
            stamps = links.by_sku_time.get((sku, _micros(anomaly.event_time)))
            return _newest_before(stamps, appended)
        return None

    return link


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _print(runs: Iterable[dict[str, Any]], console: Console) -> None:
    table = Table(title="Latency, input produced to output appended (ms)", title_justify="left")
    for header in ("coalesce ms", "topic", "linked", "p50", "p99", "p99.9", "max"):
        table.add_column(header, justify="left" if header == "topic" else "right", no_wrap=True)
    for run in runs:
        for topic, values in run["topics"].items():
            table.add_row(
                str(run["coalesce_ms"]),
                topic,
                f"{values['linked']:,}",
                *("-" if values[k] is None else f"{values[k]:,.0f}"
                  for k in ("p50", "p99", "p99_9", "max")),
            )  # fmt: skip
    console.print(table)
    for run in runs:
        load = run["load"]
        console.print(
            f"coalesce {run['coalesce_ms']} ms: offered {load['achieved_events_per_s']:,.0f} "
            f"events/s for {load['seconds']:.0f} s; caught up "
            f"{run['caught_up_s_after_load']} s after the load"
        )
