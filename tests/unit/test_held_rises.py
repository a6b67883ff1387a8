"""The rises a SKU holds back, kept as they change, are what a pass over its unsettled changes
gives: for any changes, settlements, watermarks and wall times, also when they go back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from operators.availability.positions import Position
from operators.availability.settling import SettledStock, Unsettled
from operators.availability.stock_changes import StockChange, StockDelta

T = datetime(2026, 11, 27, 8, tzinfo=UTC)
HOLD = timedelta(seconds=2)
LOCATIONS = ("DC-EAST", "DC-WEST", "S-001")


def never(change: StockChange, positions: dict[str, Position]) -> list[object]:
    return []


def scanned(stock: SettledStock, watermark: datetime | None, now: datetime) -> tuple[object, ...]:
    """What a pass over every unsettled change gives: the held sums and the next release."""
    held: dict[str, tuple[int, int]] = {}
    releases = []
    for entry in stock.unsettled:
        if (
            (entry.raised or entry.released)
            and entry.since + HOLD > now
            and (watermark is None or entry.change.event_time > watermark)
        ):
            raised, released = held.get(entry.change.location, (0, 0))
            held[entry.change.location] = (raised + entry.raised, released + entry.released)
            releases.append(entry.since + HOLD)
    return held, min(releases, default=None)


steps = st.one_of(
    st.tuples(
        st.just("add"),
        st.integers(0, 600),  # event time, seconds after T
        st.sampled_from(LOCATIONS),
        st.integers(0, 3),  # raised
        st.integers(0, 3),  # released
    ),
    st.tuples(st.just("settle"), st.integers(0, 600)),
    st.tuples(st.just("tick"), st.integers(-200, 1_500)),  # wall time moves (ms), maybe back
    st.tuples(st.just("watermark"), st.one_of(st.none(), st.integers(-60, 120))),
    st.tuples(st.just("copy")),
)


@examples(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=80))
def test_the_held_rises_are_those_a_pass_over_the_unsettled_changes_gives(
    script: list[tuple[object, ...]],
) -> None:
    stock = SettledStock()
    now = T
    watermark: datetime | None = None
    for n, step in enumerate(script):
        match step:
            case ("add", int(at), str(location), int(raised), int(released)):
                change = StockDelta("SKU-1", location, raised, -released, T + timedelta(seconds=at))
                stock.add(change, raised, released, now, never, timedelta(days=1))
            case ("settle", int(at)):
                stock.settle(T + timedelta(seconds=at), never, timedelta(days=1))
            case ("tick", int(millis)):
                now += timedelta(milliseconds=millis)
            case ("watermark", None):
                watermark = None
            case ("watermark", int(forward)):
                base = watermark or T
                watermark = base + timedelta(seconds=forward)
            case ("copy",):
                stock = stock.copy()
        expected = scanned(stock, watermark, now)
        got = (dict(stock.held(watermark, now, HOLD)), stock.next_release(watermark, now, HOLD))
        assert got == expected, f"after step {n}: {step}"


def test_a_copy_and_a_pickle_leave_the_kept_sums_out() -> None:
    import pickle

    stock = SettledStock()
    stock.add(StockDelta("SKU-1", "DC-EAST", 2, 0, T), 2, 0, T, never, timedelta(days=1))
    assert stock.held(None, T, HOLD) == {"DC-EAST": (2, 0)}
    for again in (stock.copy(), pickle.loads(pickle.dumps(stock))):
        assert again == stock
        assert again.unsettled == [Unsettled(*stock.unsettled[0].__reduce__()[1])]
        assert again.held(None, T, HOLD) == {"DC-EAST": (2, 0)}
