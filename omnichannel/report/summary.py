"""The demo's figures: what went in, what came out, and how availability moved over the day.

`summarize` reads a replay's input folder (the scenario's `manifest.json`, else the JSON Lines
files themselves) and its output folder of `<topic>.avro` files; every figure is then worked
out by the pure functions below from the decoded records, so each can be tested on its own.

The busiest SKUs are those with the most availability updates published, over every channel
and store: the SKUs whose availability moved most often during the day. A channel's time
series of a SKU is its published number in version order; for POS, which publishes per store,
it is the sum over the stores of each store's latest number.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from omnichannel.contracts.anomaly import AnomalyType
from omnichannel.contracts.common import Channel
from omnichannel.file_sink import read_avro_file
from omnichannel.scenario.writers import MANIFEST_FILE
from omnichannel.topics import Topics

BUSIEST = 5
WAREHOUSES = "warehouses"
# How the printout and the report name each source of events.
SOURCE_NAMES = {
    Channel.WEB.value: "Web shop",
    Channel.POS.value: "Stores (POS)",
    Channel.MARKETPLACE.value: "Marketplace",
    WAREHOUSES: "Warehouses",
}

Record = Mapping[str, Any]


class PublishedUpdate(NamedTuple):
    """The fields of an availability update the report needs."""

    channel: Channel
    sku: str
    location: str | None
    version: int
    event_time: datetime
    available_to_sell: int


class AvailabilityPoint(NamedTuple):
    """One step of a channel's available-to-sell number: from `event_time` on, this many."""

    event_time: datetime
    available_to_sell: int


@dataclass(frozen=True)
class SkuTimeline:
    """A busy SKU: how many updates it had, and its available-to-sell per channel."""

    sku: str
    updates: int
    series: dict[Channel, list[AvailabilityPoint]]


@dataclass(frozen=True)
class Oversells:
    """Oversells caught on one channel: orders' lines claiming more than was offered."""

    caught: int
    units_short: int


@dataclass(frozen=True)
class DemoSummary:
    """Every figure of the demo's printout and report.

    Input counts are keyed by input topic; `events_by_source` groups them by where they come
    from (a channel, or the warehouses). `events_out` is per output topic of normalization
    (the canonical topics, and the exceptions normalization itself refused), `expected_out`
    the manifest's expectation of it (empty without a manifest). Sold-out counts are
    availability keys: a SKU on web and marketplace, a SKU at a store on POS.
    """

    trading_day: date
    day_start: datetime
    day_end: datetime
    seconds: float
    input_events: dict[str, int]
    events_by_source: dict[str, int]
    events_out: dict[str, int]
    expected_out: dict[str, int]
    exceptions_by_reason: dict[str, int]
    anomalies_by_type: dict[str, int]
    postings_by_type: dict[str, int]
    oversells: dict[Channel, Oversells]
    updates_published: dict[Channel, int]
    sold_out: dict[Channel, int]
    busiest: list[SkuTimeline]

    @property
    def total_input_events(self) -> int:
        """Every record read from the input topics."""
        return sum(self.input_events.values())

    @property
    def events_per_second(self) -> float:
        """Input events replayed per second of wall time."""
        return self.total_input_events / self.seconds

    @property
    def oversells_caught(self) -> int:
        """Oversells caught on every channel together."""
        return sum(found.caught for found in self.oversells.values())

    @property
    def units_short(self) -> int:
        """Units claimed beyond what was offered, on every channel together."""
        return sum(found.units_short for found in self.oversells.values())


def headline(summary: DemoSummary) -> str:
    """The summary in one sentence: the day, its events, and how fast they were replayed."""
    channels = sum(1 for channel in Channel if summary.events_by_source.get(channel.value))
    senders = f"{channels} channel{'s' if channels != 1 else ''}"
    if summary.events_by_source.get(WAREHOUSES):
        senders += " and the warehouses"
    return (
        f"Trading day {summary.trading_day}: {summary.total_input_events:,} events from "
        f"{senders}, replayed in {summary.seconds:.1f} s "
        f"({summary.events_per_second:,.0f} events/s)"
    )


def summarize(
    input_dir: Path, output_dir: Path, seconds: float, topics: Topics | None = None
) -> DemoSummary:
    """Work out the demo's figures from a replay's input and output folders.

    Args:
        input_dir: the `<topic>.jsonl` files, with `manifest.json` when generated.
        output_dir: the `<topic>.avro` files the replay wrote.
        seconds: the replay's wall time, for the events-per-second rate.
        topics: the topic names, when not the defaults.
    """
    if seconds <= 0:
        raise ValueError(f"the replay's wall time must be positive, not {seconds} s")
    topics = topics or Topics()
    manifest = _read_manifest(Path(input_dir))
    inputs = manifest_counts(manifest) if manifest else count_lines(Path(input_dir), topics)
    outputs = Path(output_dir)
    normalized = [
        topics.canonical_orders,
        topics.canonical_movements,
        topics.canonical_settlements,
        topics.exceptions,
    ]
    updates = [
        update
        for channel in Channel
        for update in published_updates(_read(outputs, topics.availability(channel)))
    ]
    day = trading_day(manifest, updates)
    anomalies = _read(outputs, topics.anomalies)
    return DemoSummary(
        trading_day=day,
        day_start=datetime.combine(day, time(), UTC),
        day_end=datetime.combine(day + timedelta(days=1), time(), UTC),
        seconds=seconds,
        input_events=inputs,
        events_by_source=events_by_source(inputs, topics),
        events_out={
            topic: len(
                [r for r in _read(outputs, topic) if r.get("step", "normalize") == "normalize"]
            )
            for topic in normalized
        },
        expected_out=dict(manifest.get("expected_counts", {})) if manifest else {},
        exceptions_by_reason=count_by(_read(outputs, topics.exceptions), "reason"),
        anomalies_by_type=count_by(anomalies, "anomaly_type"),
        postings_by_type=count_by(_read(outputs, topics.postings), "entry_type"),
        oversells=oversells_by_channel(anomalies),
        updates_published={
            channel: sum(1 for u in updates if u.channel is channel) for channel in Channel
        },
        sold_out=sold_out_by_channel(updates),
        busiest=busiest_skus(updates),
    )


def manifest_counts(manifest: Record) -> dict[str, int]:
    """Records per input topic, as the scenario's manifest states them."""
    return {str(topic): int(count) for topic, count in manifest["counts"].items()}


def count_lines(input_dir: Path, topics: Topics) -> dict[str, int]:
    """Records per input topic, counted in the JSON Lines files (a missing file has none)."""
    counts = {}
    for topic in topics.inputs:
        path = input_dir / f"{topic}.jsonl"
        if path.exists():
            with path.open("rb") as file:
                counts[topic] = sum(1 for line in file if line.strip())
        else:
            counts[topic] = 0
    return counts


def events_by_source(inputs: Mapping[str, int], topics: Topics) -> dict[str, int]:
    """Input records grouped by who sent them: each channel, and the warehouses."""
    source = {
        topics.web_orders: Channel.WEB.value,
        topics.pos_orders: Channel.POS.value,
        topics.marketplace_orders: Channel.MARKETPLACE.value,
        topics.settlements: Channel.MARKETPLACE.value,
        topics.movements: WAREHOUSES,
    }
    grouped: Counter[str] = Counter()
    for topic, count in inputs.items():
        grouped[source.get(topic, topic)] += count
    return dict(grouped)


def trading_day(manifest: Record | None, updates: Iterable[PublishedUpdate]) -> date:
    """The day replayed: the manifest's, else the day of the earliest availability update."""
    if manifest:
        return date.fromisoformat(manifest["settings"]["day"])
    earliest = min((update.event_time for update in updates), default=None)
    if earliest is None:
        raise ValueError(
            "cannot tell the trading day: the input has no manifest.json and the output "
            "has no availability update"
        )
    return earliest.astimezone(UTC).date()


def count_by(records: Iterable[Record], field: str) -> dict[str, int]:
    """How many records have each value of `field`, most frequent first."""
    return dict(Counter(str(record[field]) for record in records).most_common())


def oversells_by_channel(anomalies: Iterable[Record]) -> dict[Channel, Oversells]:
    """Oversell anomalies per channel, with the units claimed beyond the offer."""
    caught: Counter[Channel] = Counter()
    short: Counter[Channel] = Counter()
    for anomaly in anomalies:
        if anomaly["anomaly_type"] != AnomalyType.OVERSELL or anomaly["channel"] is None:
            continue
        channel = Channel(anomaly["channel"])
        caught[channel] += 1
        short[channel] += anomaly["quantity"] or 0
    return {channel: Oversells(caught[channel], short[channel]) for channel in Channel}


def sold_out_by_channel(updates: Iterable[PublishedUpdate]) -> dict[Channel, int]:
    """Keys per channel whose last number is 0 after having been above 0 during the day."""
    by_key = _by_key(updates)
    sold_out: Counter[Channel] = Counter()
    for (channel, _, _), history in by_key.items():
        if history[-1].available_to_sell == 0 and any(u.available_to_sell > 0 for u in history):
            sold_out[channel] += 1
    return {channel: sold_out[channel] for channel in Channel}


def busiest_skus(updates: Iterable[PublishedUpdate], top: int = BUSIEST) -> list[SkuTimeline]:
    """The `top` SKUs with the most updates, each with its series per channel.

    Ties go to the SKU that sorts first, so the choice does not depend on file order.
    """
    by_key = _by_key(updates)
    counts: Counter[str] = Counter()
    for (_, sku, _), history in by_key.items():
        counts[sku] += len(history)
    chosen = sorted(counts, key=lambda sku: (-counts[sku], sku))[:top]
    return [SkuTimeline(sku, counts[sku], _series(sku, by_key)) for sku in chosen]


def _series(
    sku: str, by_key: Mapping[tuple[Channel, str, str | None], list[PublishedUpdate]]
) -> dict[Channel, list[AvailabilityPoint]]:
    series = {}
    for channel in Channel:
        keys = sorted(
            (key for key in by_key if key[0] is channel and key[1] == sku),
            key=lambda key: key[2] or "",
        )
        if keys:
            series[channel] = channel_series([by_key[key] for key in keys])
    return series


def channel_series(histories: Iterable[list[PublishedUpdate]]) -> list[AvailabilityPoint]:
    """One channel's number for a SKU over time, summed over its keys (POS stores).

    Each key's history is in version order; the keys are merged by event time.
    """
    latest: dict[str | None, int] = {}
    points = []
    for update in heapq.merge(*histories, key=lambda u: u.event_time):
        latest[update.location] = update.available_to_sell
        points.append(AvailabilityPoint(update.event_time, sum(latest.values())))
    return points


def _by_key(
    updates: Iterable[PublishedUpdate],
) -> dict[tuple[Channel, str, str | None], list[PublishedUpdate]]:
    by_key: defaultdict[tuple[Channel, str, str | None], list[PublishedUpdate]] = defaultdict(list)
    for update in updates:
        by_key[update.channel, update.sku, update.location].append(update)
    for history in by_key.values():
        history.sort(key=lambda u: u.version)
    return dict(by_key)


def published_updates(records: Iterable[Record]) -> list[PublishedUpdate]:
    """The report's view of decoded `AvailabilityUpdate` records."""
    return [
        PublishedUpdate(
            Channel(record["channel"]),
            record["sku"],
            record["location"],
            record["version"],
            record["event_time"],
            record["available_to_sell"],
        )
        for record in records
    ]


def _read(folder: Path, topic: str) -> list[dict[str, Any]]:
    # The sink writes no file for a topic that received nothing.
    path = folder / f"{topic}.avro"
    return read_avro_file(path) if path.exists() else []


def _read_manifest(input_dir: Path) -> dict[str, Any] | None:
    path = input_dir / MANIFEST_FILE
    if not path.exists():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest
