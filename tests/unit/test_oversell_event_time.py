"""Oversells in event time: the same input gives the same oversells and the same numbers, in
any batching and any interleaving within the grace; what is published between stays low."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from omnichannel.reference import load_reference
from operators.availability.logic import SETTLE_EVERY, SkuAvailabilityLogic
from operators.availability.settling import order_key
from operators.availability.sku_stock import AvailabilitySettings, SkuStock
from operators.availability.stock_changes import StockChange, StockCount, StockDelta
from operators.watermark import END_OF_TIME, Watermark

REFERENCE = load_reference()
SETTINGS = AvailabilitySettings(REFERENCE, coalesce=timedelta(0))
T = datetime(2026, 11, 27, 8, tzinfo=UTC)
SKU = "SKU-1001"
LOCATIONS = ("DC-EAST", "DC-WEST")
CHANNELS = (Channel.WEB, Channel.MARKETPLACE)
DISORDER = timedelta(minutes=10)  # how far behind its time a change may arrive


@st.composite
def days(draw: st.DrawFn) -> list[StockChange]:
    """A SKU's changes over two hours: counts, receipts, claims and their releases."""
    changes: list[StockChange] = []
    for n in range(draw(st.integers(1, 40))):
        when = T + timedelta(minutes=draw(st.integers(0, 120)))
        location = draw(st.sampled_from(LOCATIONS))
        kind = draw(st.sampled_from(("count", "receipt", "claim", "claim", "release", "sale")))
        units = draw(st.integers(1, 6))
        order = f"order-{n}"
        if kind == "count":
            changes.append(StockCount(SKU, location, draw(st.integers(0, 12)), when, f"C-{n}"))
        elif kind == "receipt":
            changes.append(StockDelta(SKU, location, units, 0, when, movement_id=f"R-{n}"))
        elif kind == "claim":
            channel = draw(st.sampled_from(CHANNELS))
            changes.append(StockDelta(SKU, location, 0, units, when, channel, order, units))
        elif kind == "release":
            changes.append(StockDelta(SKU, location, 0, -units, when, Channel.WEB, order))
        else:
            changes.append(StockDelta(SKU, location, -units, 0, when, Channel.WEB, order, units))
    return changes


def reference_oversells(changes: Sequence[StockChange]) -> set[tuple[str, int]]:
    """Every claim judged in event-time order against plain counters: (anomaly id, shortfall)."""
    on_hand = dict.fromkeys(LOCATIONS, 0)
    reserved = dict.fromkeys(LOCATIONS, 0)
    counted_at: dict[str, datetime] = {}
    found = set()
    for change in sorted(changes, key=order_key):
        where = change.location
        if isinstance(change, StockCount):
            # Two counts of one instant disagree: the lower stands.
            if counted_at.get(where) != change.event_time:
                on_hand[where] = change.counted
                counted_at[where] = change.event_time
            else:
                on_hand[where] = min(on_hand[where], change.counted)
            continue
        free = max(0, on_hand[where] - max(0, reserved[where]))
        if change.claimed > free and change.channel is not None:
            found.add(
                (
                    f"oversell:{change.channel}:{change.order_id}:{SKU}:{where}",
                    change.claimed - free,
                )
            )
        on_hand[where] += change.on_hand
        reserved[where] += change.reserved
    return found


def replayed(
    changes: Sequence[StockChange], delays: Sequence[int], settle_after: Sequence[bool]
) -> tuple[set[tuple[str, int]], dict[tuple[str, str | None], int]]:
    """Feed the changes in the order they arrive, each `delays` minutes behind its time (at most
    the disorder), settling whenever `settle_after` says, up to what is known to be complete."""
    arrivals = sorted(
        zip(changes, delays, strict=True), key=lambda c: c[0].event_time + timedelta(minutes=c[1])
    )
    stock = SkuStock()
    outputs: list[AvailabilityUpdate | Anomaly] = []
    for (change, delay), settle in zip(arrivals, settle_after, strict=True):
        arrived_at = change.event_time + timedelta(minutes=delay)
        outputs.extend(stock.apply(change, SETTINGS, T, watermark=None))
        if settle:
            # Whatever arrives later happened at most the disorder before now: settled is
            # what is older than that.
            through = arrived_at - DISORDER - timedelta(seconds=1)
            outputs.extend(stock.settle(through, SETTINGS, T, None))
    outputs.extend(stock.settle(END_OF_TIME, SETTINGS, T, END_OF_TIME))
    oversells = {
        (a.anomaly_id, a.quantity or 0)
        for a in outputs
        if isinstance(a, Anomaly) and a.anomaly_type == "oversell"
    }
    numbers = {}
    for key in sorted({k for loc in LOCATIONS for k in SETTINGS.channel_keys(loc)}):
        numbers[(key[0].value, key[1])] = stock.available(key, SETTINGS)
    return oversells, numbers


@examples(max_examples=150, deadline=None)
@given(
    changes=days(),
    data=st.data(),
)
def test_oversells_and_numbers_do_not_depend_on_batching_or_interleaving(
    changes: list[StockChange], data: st.DataObject
) -> None:
    size = len(changes)
    first = data.draw(st.lists(st.integers(0, 10), min_size=size, max_size=size))
    second = data.draw(st.lists(st.integers(0, 10), min_size=size, max_size=size))
    every = data.draw(st.lists(st.booleans(), min_size=size, max_size=size))
    rarely = data.draw(st.lists(st.booleans(), min_size=size, max_size=size))

    one = replayed(changes, first, every)
    other = replayed(changes, second, rarely)
    # Received in order, settled only at the end: the whole day at once.
    whole = replayed(changes, [0] * size, [False] * size)

    assert one == other == whole
    assert one[0] == reference_oversells(changes)


def test_a_claim_is_judged_against_the_counts_and_receipts_before_it_whenever_they_arrive() -> None:
    claim = StockDelta(SKU, "DC-EAST", 0, 5, T + timedelta(minutes=30), Channel.WEB, "1001", 5)
    count = StockCount(SKU, "DC-EAST", 3, T, "C-1")
    receipt = StockDelta(SKU, "DC-EAST", 4, 0, T + timedelta(minutes=10), movement_id="R-1")
    for arrival in ((claim, count, receipt), (count, receipt, claim), (receipt, claim, count)):
        stock = SkuStock()
        for change in arrival:
            assert not [o for o in stock.apply(change, SETTINGS, T) if isinstance(o, Anomaly)]
        assert stock.settle(T + timedelta(hours=1), SETTINGS, T, END_OF_TIME) == [], arrival


def test_a_rise_after_the_watermark_is_not_published_until_it_passes_or_the_hold_ends() -> None:
    stock = SkuStock()
    opening = StockCount(SKU, "DC-EAST", 10, T, "C-1")
    stock.apply(opening, SETTINGS, T, watermark=T)
    claim = StockDelta(SKU, "DC-EAST", 0, 4, T + timedelta(minutes=1), Channel.WEB, "1001", 4)
    receipt = StockDelta(SKU, "DC-EAST", 20, 0, T + timedelta(minutes=2), movement_id="R-1")
    watermark = T + timedelta(minutes=1)
    lowered = stock.apply(claim, SETTINGS, T, watermark)
    # The receipt is read before a change that may precede it: it is not shown yet.
    held = stock.apply(receipt, SETTINGS, T, watermark)
    assert [u.on_hand for u in lowered if isinstance(u, AvailabilityUpdate)]
    assert [u for u in held if isinstance(u, AvailabilityUpdate)] == []
    web = (Channel.WEB, None)
    rule = REFERENCE.channels[Channel.WEB]
    assert stock.published[web][0] == 6 - rule.safety_stock - rule.buffer
    # The watermark passes it: shown.
    watermark = T + timedelta(minutes=2)
    shown = stock.settle(None, SETTINGS, T, watermark)
    (update,) = [u for u in shown if isinstance(u, AvailabilityUpdate) and u.channel is Channel.WEB]
    assert update.on_hand == 30
    # A watermark that does not move holds a rise no longer than the hold.
    later = StockDelta(SKU, "DC-EAST", 5, 0, T + timedelta(minutes=3), movement_id="R-2")
    assert stock.apply(later, SETTINGS, T, watermark) == []
    assert stock.next_release(SETTINGS, watermark, T) == T + SETTINGS.hold
    (released,) = [
        u
        for u in stock.settle(None, SETTINGS, T + SETTINGS.hold, watermark)
        if isinstance(u, AvailabilityUpdate) and u.channel is Channel.WEB
    ]
    assert released.on_hand == 35
    # Shown: it wakes its SKU no more (a wake in the past would come again and again).
    assert stock.next_release(SETTINGS, watermark, T + SETTINGS.hold) is None


def test_a_sku_whose_rise_was_shown_is_not_woken_again_before_its_next_check() -> None:
    moments = iter([T, T, T + timedelta(seconds=3), T + timedelta(seconds=3)])
    logic = SkuAvailabilityLogic(None, SETTINGS, lambda: next(moments), watermark=Watermark())
    # Nothing read anywhere yet (a watermark of None): the receipt is held, for the hold.
    receipt = StockDelta(SKU, "DC-EAST", 20, 0, T, movement_id="R-1")
    first, _ = logic.on_item(receipt)
    assert [u.on_hand for u in first if isinstance(u, AvailabilityUpdate)] == [0, 0]
    assert logic.notify_at() == T + SETTINGS.hold
    shown, _ = logic.on_notify()
    assert any(isinstance(u, AvailabilityUpdate) and u.on_hand == 20 for u in shown)
    # Its claims are still to settle (every few seconds), but the rise asks no wake of its own.
    assert logic.notify_at() == T + timedelta(seconds=3) + SETTLE_EVERY
