"""`python -m omnichannel.bench stages`: the hot path's cost per record, step by step, no Kafka.

A generated day is taken through every step of the three flows in this process: normalized,
routed and encoded, decoded back, through the availability logic (per order, then per SKU)
and the finance ledger, and their outputs encoded. Each step runs over all its records in a
tight loop, `repeat` times; the median microseconds per record is reported, with the fastest.
Bytewax's own per-item cost and Kafka are not in these figures: `throughput` measures those.

This module imports nothing else of `omnichannel.bench`, so that it can be copied into an
older checkout and run there (`python stages.py --out X.json`) to compare before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from omnichannel.contracts.common import Contract
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.decoding import CanonicalDecoder
from omnichannel.encoding import RecordEncoder
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.availability.logic import (
    DEFAULT_ORDER_RETENTION,
    OrderStockLogic,
    SkuAvailabilityLogic,
)
from operators.availability.sku_stock import AvailabilitySettings
from operators.availability.stock_changes import StockChange, stock_change
from operators.finance.ledger import FinanceSettings
from operators.finance.logic import OrderLedgerLogic
from operators.finance.postings import settlement_entry
from operators.normalize import Normalizer
from operators.routing import (
    Routed,
    route_anomaly,
    route_exception,
    route_normalized,
    route_posting,
)
from operators.watermark import Watermark

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class StepCost:
    """One step's cost per record: the median and the fastest of the repeats."""

    flow: str
    step: str
    records: int
    median_us: float
    best_us: float


def timed(
    flow: str,
    step: str,
    items: Sequence[T],
    work: Callable[[Sequence[T]], R],
    repeat: int,
    each: Callable[[T], object] | None = None,
) -> tuple[StepCost, R]:
    """Run `work` over all `items` `repeat` times; the cost per item, and the last result.

    A stateless step gives `each`, its work on one item: that is what is timed, its results
    dropped at once as a flow's are, and `work` runs once more, untimed, for the results the
    next steps need. A stateful step's `work` is timed with the state it builds.
    """
    seconds = []
    for _ in range(repeat):
        gc.collect()
        # What this harness keeps alive is not the step's to scan: the collector sees only
        # what the step itself allocates.
        gc.freeze()
        began = time.perf_counter()
        if each is None:
            work(items)
        else:
            for item in items:
                each(item)
        seconds.append(time.perf_counter() - began)
        gc.unfreeze()
    result = work(items)
    per_item = [s / max(len(items), 1) * 1e6 for s in seconds]
    cost = StepCost(flow, step, len(items), statistics.median(per_item), min(per_item))
    return cost, result


def measure(events: int, skus: int, seed: int, repeat: int) -> list[StepCost]:
    """Every step's cost per record on a generated day of about `events` events."""
    reference = load_reference()
    topics = Topics()
    scenario = generate(ScenarioSettings(seed=seed, events=events, skus=skus), reference)
    # The records in the order they were produced, as a single consumer would read them.
    raws = sorted(
        (
            RawRecord(topic, 0, offset, record.key.encode(), record.value, record.timestamp_ms)
            for topic, records in scenario.records.items()
            for offset, record in enumerate(records)
        ),
        key=lambda raw: (raw.timestamp_ms or 0, raw.topic, raw.offset),
    )
    now = datetime.now(UTC)
    normalizer = Normalizer.for_topics(reference, topics)
    encoder = RecordEncoder()
    decoder = CanonicalDecoder(topics)
    costs: list[StepCost] = []

    def add(cost: StepCost) -> None:
        costs.append(cost)
        print(f"{cost.flow:13} {cost.step:34} {cost.records:>8} {cost.median_us:9.2f} us")

    def normalize(raw: RawRecord) -> Any:
        return normalizer.normalize(raw, now)

    def encode_normalized(result: Any) -> Any:
        return encoder.encode(route_normalized(result, topics))

    cost, normalized = timed("normalization", "json + adapter (normalize)", raws,
                             lambda rs: [normalize(r) for r in rs], repeat, normalize)  # fmt: skip
    add(cost)
    routed = [route_normalized(result, topics) for result in normalized]
    cost, encoded = timed("normalization", "route + Avro encode", normalized,
                          lambda ns: [encode_normalized(n) for n in ns], repeat,
                          encode_normalized)  # fmt: skip
    add(cost)
    canonical = [
        RawRecord(out.topic, 0, n, out.key, out.value, None)
        for n, (out, route) in enumerate(zip(encoded, routed, strict=True))
        if not isinstance(route.record, ExceptionRecord)
    ]

    def decode(record: RawRecord) -> Any:
        return decoder.decode(record, "bench")

    cost, decoded = timed("availability", "Avro decode (canonical)", canonical,
                          lambda cs: [decode(c) for c in cs], repeat, decode)  # fmt: skip
    add(cost)
    orders = [event for event in decoded if isinstance(event, OrderEvent)]
    movements = [event for event in decoded if isinstance(event, InventoryMovement)]

    def order_stock(events: Sequence[Contract]) -> list[StockChange]:
        states: dict[str, OrderStockLogic] = {}
        changes: list[StockChange] = []
        for event in events:
            if isinstance(event, OrderEvent):
                logic = states.get(event.correlation_id)
                if logic is None:
                    logic = states[event.correlation_id] = OrderStockLogic(
                        None, DEFAULT_ORDER_RETENTION
                    )
                changes.extend(logic.on_item(event)[0])
            elif isinstance(event, InventoryMovement):
                changes.append(stock_change(event))
        return changes

    cost, changes = timed("availability", "order_stock (per order event)", orders,
                          lambda _: order_stock(decoded), repeat)  # fmt: skip
    add(cost)
    settings = AvailabilitySettings(reference, coalesce=timedelta(milliseconds=250))

    def sku_stock(changes: Sequence[StockChange]) -> tuple[list[Any], dict[str, Any]]:
        states: dict[str, SkuAvailabilityLogic] = {}
        outputs: list[Any] = []
        for change in changes:
            logic = states.get(change.sku)
            if logic is None:
                logic = states[change.sku] = SkuAvailabilityLogic(None, settings)
            outputs.extend(logic.on_item(change)[0])
        for logic in states.values():
            outputs.extend(logic.on_eof()[0])
        return outputs, states

    cost, (published, sku_states) = timed("availability", "sku_stock (per stock change)", changes,
                                          sku_stock, repeat)  # fmt: skip
    add(cost)
    availability_out = [
        route_anomaly(p, topics) if p.__class__.__name__ == "Anomaly" else _route_update(p, topics)
        for p in published
    ]
    cost, _ = timed("availability", "route + Avro encode (outputs)", availability_out,
                    lambda rs: [encoder.encode(r) for r in rs], repeat, encoder.encode)  # fmt: skip
    add(cost)
    sku_logics = list(sku_states.values())
    cost, _ = timed("availability", "sku_stock snapshot (per key)", sku_logics,
                    lambda ls: [logic.snapshot() for logic in ls], repeat,
                    lambda logic: logic.snapshot())  # fmt: skip
    add(cost)

    finance_settings = FinanceSettings(reference)

    def ledger(events: Sequence[OrderEvent]) -> tuple[list[Any], dict[str, OrderLedgerLogic]]:
        states: dict[str, OrderLedgerLogic] = {}
        watermark = Watermark()
        outputs: list[Any] = []
        for event in events:
            logic = states.get(event.correlation_id)
            if logic is None:
                logic = states[event.correlation_id] = OrderLedgerLogic(
                    None, finance_settings, watermark
                )
            outputs.extend(logic.on_item(event)[0])
        return outputs, states

    cost, (books, ledgers) = timed("finance", "order_ledger (per order event)", orders, ledger,
                                   repeat)  # fmt: skip
    add(cost)
    settlements = [event for event in decoded if isinstance(event, Settlement)]
    entries = [b for b in books if isinstance(b, JournalEntry)]
    entries += [settlement_entry(s, reference) for s in settlements]
    finance_out: list[Routed] = [route_posting(e, topics) for e in entries]
    finance_out += [
        route_exception(b, topics) if isinstance(b, ExceptionRecord) else route_anomaly(b, topics)
        for b in books
        if b.__class__.__name__ in ("Anomaly", "ExceptionRecord")
    ]
    cost, _ = timed("finance", "route + Avro encode (outputs)", finance_out,
                    lambda rs: [encoder.encode(r) for r in rs], repeat, encoder.encode)  # fmt: skip
    add(cost)
    ledger_logics = list(ledgers.values())
    cost, _ = timed("finance", "order_ledger snapshot (per key)", ledger_logics,
                    lambda ls: [logic.snapshot() for logic in ls], repeat,
                    lambda logic: logic.snapshot())  # fmt: skip
    add(cost)
    print(
        f"inputs {len(raws)}, canonical {len(canonical)}, orders {len(orders)}, movements "
        f"{len(movements)}, stock changes {len(changes)}, availability outputs "
        f"{len(availability_out)}, finance outputs {len(finance_out)}"
    )
    return costs


def _route_update(update: Any, topics: Topics) -> Routed:
    from operators.routing import route_availability

    return route_availability(update, topics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--skus", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("out/bench/stages.json"))
    args = parser.parse_args(argv)
    costs = measure(args.events, args.skus, args.seed, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"events": args.events, "skus": args.skus, "repeat": args.repeat,
             "steps": [asdict(cost) for cost in costs]}, indent=2
        ) + "\n"
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
