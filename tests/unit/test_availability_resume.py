"""After any resume, every number a process that died published is superseded.

A process publishes updates after its last snapshot and dies; its successor resumes from that
snapshot and applies the same changes, in whatever order they now arrive. Whatever the dead
process published must not outlive it: in each execution, each key publishes at its first
change at once, whatever the number, so its successor's view wins with a later version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from omnichannel.reference import load_reference
from operators.availability.logic import SkuAvailabilityLogic
from operators.availability.sku_stock import (
    AvailabilitySettings,
    ChannelKey,
    Published,
    SkuStock,
)
from operators.availability.stock_changes import StockChange, StockCount, StockDelta

REFERENCE = load_reference()
T = datetime(2026, 11, 27, 8, tzinfo=UTC)
SKU = "SKU-84074"
MARKETPLACE: ChannelKey = (Channel.MARKETPLACE, None)
WEB: ChannelKey = (Channel.WEB, None)
Newest = dict[ChannelKey, tuple[int, int]]  # key -> (version, available-to-sell)


def settings(coalesce_ms: int = 250) -> AvailabilitySettings:
    return AvailabilitySettings(REFERENCE, coalesce=timedelta(milliseconds=coalesce_ms))


def ticking(
    start: datetime = T, step: timedelta = timedelta(milliseconds=100)
) -> Callable[[], datetime]:
    """A wall clock that moves on at every reading, as a busy flow's does."""
    now = [start]

    def read() -> datetime:
        now[0] += step
        return now[0]

    return read


def newest(outputs: Iterable[Published], into: Newest) -> Newest:
    """Keep, per key, the update with the highest version, as the read model does."""
    for update in outputs:
        if isinstance(update, AvailabilityUpdate):
            key = (update.channel, update.location)
            if key not in into or update.version > into[key][0]:
                into[key] = (update.version, update.available_to_sell)
    return into


def micros(moment: datetime) -> int:
    """A version as the flow makes it: the publish time in microseconds."""
    return int(moment.timestamp() * 1_000_000)


def receipt(units: int, minute: int = 0, location: str = "DC-EAST") -> StockDelta:
    return StockDelta(SKU, location, units, 0, T + timedelta(minutes=minute))


def reservation(units: int, minute: int = 0, location: str = "DC-EAST") -> StockDelta:
    return StockDelta(SKU, location, 0, units, T + timedelta(minutes=minute))


def test_seed_101_a_number_published_from_nowhere_is_taken_back() -> None:
    # The dead process created the SKU after its last snapshot, received 9 units at DC-EAST
    # (marketplace: (9 - 3 safety) * 0.5 - 2 buffer = 1) and died before the order that
    # reserves one of them. Its successor has no state for the SKU and reads the order first.
    clock = ticking()
    seen: Newest = {}
    dead = SkuAvailabilityLogic(None, settings(), clock)
    newest(dead.on_item(receipt(9))[0], seen)
    assert seen[MARKETPLACE][1] == 1
    successor = SkuAvailabilityLogic(None, settings(), clock)
    for change in (reservation(1), receipt(9)):
        newest(successor.on_item(change)[0], seen)
    newest(successor.on_eof()[0], seen)
    # (9 - 1 reserved - 3) * 0.5 - 2 = 0: its number never left 0, and it still says so.
    assert successor.state.available(MARKETPLACE, settings()) == 0
    assert seen[MARKETPLACE][1] == 0


def test_a_restored_key_never_published_before_the_snapshot_publishes_its_first_change() -> None:
    stock = SkuStock()
    stock.apply(receipt(20), settings(), T)  # web and marketplace published; POS S-014 not
    snapshot = stock.copy()
    snapshot.resumed()
    later = T + timedelta(seconds=5)
    # A POS sale at S-014 of stock it does not have: 0 before, 0 after, and published.
    outputs = snapshot.apply(receipt(-1, location="S-014"), settings(), later)
    assert newest(outputs, {})[(Channel.POS, "S-014")] == (micros(later), 0)


def test_the_first_change_goes_out_even_when_the_number_is_what_was_published() -> None:
    stock = SkuStock()
    stock.apply(receipt(20), settings(), T)
    web_before = stock.published[WEB]
    stock.resumed()
    later = T + timedelta(seconds=5)
    # A reservation at a store the web does not sell from leaves web's number where it was.
    outputs = stock.apply(reservation(1, location="S-015"), settings(), later)
    assert stock.available(WEB, settings()) == web_before[0]
    assert newest(outputs, {})[(Channel.POS, "S-015")][1] == 0
    outputs = stock.apply(reservation(1), settings(), later)  # web: 17 -> 16, at once
    assert newest(outputs, {})[WEB] == (micros(later), 16)
    assert stock.apply(reservation(1), settings(), later) == []  # coalesced again


def test_a_fresh_key_publishes_once_at_once_then_coalesces() -> None:
    stock = SkuStock()
    rule = settings(coalesce_ms=250)
    first = newest(stock.apply(reservation(2), rule, T), {})
    # Nothing on the shelf: 0, published at once in a first run too (it cannot tell).
    assert first == {WEB: (micros(T), 0), MARKETPLACE: (micros(T), 0)}
    assert stock.apply(reservation(1), rule, T) == []


def test_a_snapshot_says_nothing_of_what_its_process_published_since() -> None:
    clock = ticking()
    logic = SkuAvailabilityLogic(None, settings(), clock)
    logic.on_item(receipt(20))
    assert logic.state.confirmed == {WEB, MARKETPLACE}
    resumed = SkuAvailabilityLogic(logic.snapshot(), settings(), clock)
    assert resumed.state.confirmed == set()
    assert resumed.state.published == logic.state.published
    assert logic.state.confirmed == {WEB, MARKETPLACE}  # the snapshot was a copy


def test_a_change_pending_at_the_snapshot_is_published_by_the_successor() -> None:
    clock = ticking(step=timedelta(0))
    logic = SkuAvailabilityLogic(None, settings(), clock)
    logic.on_item(receipt(20))
    logic.on_item(receipt(-1))  # web 17 -> 16, held for the window
    assert logic.state.pending
    resumed = SkuAvailabilityLogic(logic.snapshot(), settings(), ticking(T + timedelta(seconds=9)))
    flushed = newest(resumed.on_notify()[0], {})
    assert flushed[WEB][1] == 16


# A DC (web and marketplace) and a store (POS and web): every kind of key, often hit.
LOCATIONS = ["DC-EAST", "S-014"]
MINUTES = st.integers(0, 600).map(lambda m: T + timedelta(minutes=m))
CHANGES = st.lists(
    st.one_of(
        st.builds(
            StockDelta,
            sku=st.just(SKU),
            location=st.sampled_from(LOCATIONS),
            on_hand=st.integers(-3, 10),
            reserved=st.integers(-1, 3),
            event_time=MINUTES,
        ),
        st.builds(
            StockCount,
            sku=st.just(SKU),
            location=st.sampled_from(LOCATIONS),
            counted=st.integers(0, 12),
            event_time=MINUTES,
        ),
    ),
    min_size=1,
    max_size=12,
)


@examples(max_examples=400)
@given(CHANGES, st.data(), st.sampled_from([0, 250]))
def test_whatever_a_dead_process_published_after_its_snapshot_is_superseded(
    changes: list[StockChange], data: st.DataObject, coalesce_ms: int
) -> None:
    rule = settings(coalesce_ms)
    snapshot_at = data.draw(st.integers(0, len(changes)), "snapshot after")
    died_at = data.draw(st.integers(snapshot_at, len(changes)), "died after")
    # The successor reads everything after the snapshot again, maybe in another order.
    replayed = data.draw(st.permutations(changes[snapshot_at:]), "replayed")
    clock = ticking()
    seen: Newest = {}
    dead = SkuAvailabilityLogic(None, rule, clock)
    for change in changes[:snapshot_at]:
        newest(dead.on_item(change)[0], seen)
    # Bytewax gives a key with no state in the snapshot none at all.
    snapshot = dead.snapshot() if snapshot_at else None
    for change in changes[snapshot_at:died_at]:
        newest(dead.on_item(change)[0], seen)
    successor = SkuAvailabilityLogic(snapshot, rule, clock)
    for change in replayed:
        newest(successor.on_item(change)[0], seen)
    newest(successor.on_eof()[0], seen)
    assert {key: number for key, (_, number) in seen.items()} == {
        key: successor.state.available(key, rule) for key in seen
    }
