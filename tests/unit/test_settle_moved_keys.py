"""A SKU's wake looks again only at the numbers that can have moved since the last look: those
of the locations whose held rises were let go (or all, after a resume or when the held rises
were worked out anew). For any changes, clocks, watermarks, wakes and resumes it publishes
exactly what looking at every number publishes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest import mock

from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from omnichannel.reference import load_reference
from operators.availability.logic import SkuAvailabilityLogic
from operators.availability.settling import SettledStock
from operators.availability.sku_stock import AvailabilitySettings, Published
from operators.availability.stock_changes import StockCount, StockDelta

REFERENCE = load_reference()
T = datetime(2026, 11, 27, 8, tzinfo=UTC)
LOCATIONS = ("DC-EAST", "DC-WEST", "S-014", "S-015")


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


class SteppedWatermark:
    def __init__(self) -> None:
        self.at: datetime | None = None

    def value(self) -> datetime | None:
        return self.at


def receipt(location: str, units: int) -> StockDelta:
    return StockDelta("SKU-1", location, units, 0, T)


@contextmanager
def every_number_looked_at() -> Iterator[None]:
    """The reference: every wake looks at every number of the SKU."""
    with mock.patch.object(SettledStock, "take_moved", return_value=None):
        yield


def delta(location: str, on_hand: int, reserved: int, at: int, order: int | None) -> StockDelta:
    """A change at `at` seconds; with an order, a claim of the channel the location sells to."""
    channel = None if order is None else min(REFERENCE.locations[location].channels)
    order_id = None if order is None else f"o-{order}"
    return StockDelta(
        "SKU-1", location, on_hand, reserved, T + timedelta(seconds=at), channel, order_id,
        max(0, reserved),
    )  # fmt: skip


changes = st.one_of(
    st.builds(
        delta,
        st.sampled_from(LOCATIONS),
        st.integers(-3, 6),
        st.integers(-3, 4),
        st.integers(0, 900),
        st.one_of(st.none(), st.integers(0, 5)),
    ),
    st.builds(
        lambda location, counted, at, movement: StockCount(
            "SKU-1", location, counted, T + timedelta(seconds=at), f"m-{movement}"
        ),
        st.sampled_from(LOCATIONS),
        st.integers(0, 12),
        st.integers(0, 900),
        st.integers(0, 40),
    ),
)
steps = st.one_of(
    st.tuples(st.just("changes"), st.lists(changes, min_size=1, max_size=4)),
    st.tuples(st.just("tick"), st.integers(0, 3_000)),  # wall time moves on (ms)
    st.tuples(st.just("watermark"), st.integers(0, 400)),  # event time moves on (s)
    st.tuples(st.just("wake")),
    st.tuples(st.just("resume")),
)


def run(script: list[tuple[object, ...]]) -> list[Published]:
    clock, watermark = Clock(), SteppedWatermark()
    settings = AvailabilitySettings(
        REFERENCE, coalesce=timedelta(milliseconds=250), oversell_grace=timedelta(seconds=30)
    )

    def logic(snapshot: object) -> SkuAvailabilityLogic:
        return SkuAvailabilityLogic(snapshot, settings, clock, watermark)  # type: ignore[arg-type]

    sku = logic(None)
    published: list[Published] = []
    for step in script:
        match step:
            case ("changes", list(batch)):
                published.extend(sku.on_batch(batch)[0])
            case ("tick", int(millis)):
                clock.now += timedelta(milliseconds=millis)
            case ("watermark", int(forward)):
                watermark.at = (watermark.at or T) + timedelta(seconds=forward)
            case ("wake",):
                published.extend(sku.on_notify()[0])
            case ("resume",):
                sku = logic(sku.snapshot())
        sku.notify_at()  # asking when to wake lets held rises go, as Bytewax does after a call
    published.extend(sku.on_eof()[0])
    return published


@examples(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=40))
def test_a_wake_publishes_what_looking_at_every_number_publishes(
    script: list[tuple[object, ...]],
) -> None:
    with every_number_looked_at():
        expected = run(script)
    assert run(script) == expected


def test_a_wake_after_a_held_rise_is_let_go_publishes_it() -> None:
    # A receipt held behind the watermark shows once the watermark passes it; the wake that
    # finds it let go is the one that publishes it.
    script: list[tuple[object, ...]] = [
        ("watermark", 0),
        ("changes", [StockDelta("SKU-1", "DC-EAST", 9, 0, T + timedelta(seconds=60))]),
        ("changes", [StockDelta("SKU-1", "DC-EAST", 5, 0, T + timedelta(seconds=120))]),
        ("tick", 300),
        ("watermark", 90),
        ("wake",),
    ]
    published = run(script)
    woken = [p for p in published if getattr(p, "on_hand", None) == 9]
    assert woken, published
    with every_number_looked_at():
        assert run(script) == published


def test_a_wake_after_a_resume_with_nothing_unsettled_publishes_every_number() -> None:
    # Everything was settled before the snapshot; the successor's first wake publishes each
    # number once, superseding whatever its predecessor published after the snapshot.
    script: list[tuple[object, ...]] = [
        ("changes", [receipt("DC-EAST", 9), receipt("S-014", 4)]),
        ("watermark", 600),
        ("wake",),
        ("tick", 5_000),
        ("wake",),
        ("resume",),
        ("tick", 5_000),
        ("wake",),
    ]
    with every_number_looked_at():
        expected = run(script)
    published = run(script)
    assert published == expected
    at_the_last_wake = {
        (p.channel, p.location)  # type: ignore[union-attr]
        for p in published
        if p.published_at == T + timedelta(seconds=10)  # type: ignore[union-attr]
    }
    keys = AvailabilitySettings(REFERENCE).channel_keys
    assert at_the_last_wake == {*keys("DC-EAST"), *keys("S-014")}
