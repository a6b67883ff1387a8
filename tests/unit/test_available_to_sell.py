"""Available-to-sell per channel policy, and when a SKU publishes its numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from omnichannel.reference import ChannelPolicy, load_reference
from operators.availability.policy import available_to_sell, location_surplus
from operators.availability.sku_stock import AvailabilitySettings, SkuStock
from operators.availability.stock_changes import StockCount, StockDelta

REFERENCE = load_reference()
T = datetime(2026, 11, 27, 8, tzinfo=UTC)
SKU = "SKU-1001"


def policy(safety: int = 0, buffer: int = 0, share: str = "1") -> ChannelPolicy:
    return ChannelPolicy(
        safety_stock=safety,
        buffer=buffer,
        allocation_share=Decimal(share),
        per_location=False,
        currencies=frozenset({"USD"}),
    )


@pytest.mark.parametrize(
    ("surpluses", "rule", "expected"),
    [
        ([10, 5], policy(), 15),
        ([10, 5], policy(buffer=2), 13),
        ([10, 5], policy(share="0.5"), 7),
        ([1], policy(share="0.5"), 0),
        ([1], policy(buffer=3), 0),
        ([], policy(), 0),
    ],
)
def test_available_to_sell(surpluses: list[int], rule: ChannelPolicy, expected: int) -> None:
    assert available_to_sell(surpluses, rule) == expected


def test_a_short_location_does_not_borrow_from_another() -> None:
    assert location_surplus(on_hand=3, reserved=5, safety_stock=2) == 0
    assert available_to_sell([location_surplus(3, 5, 2), location_surplus(10, 0, 2)], policy()) == 8


def settings(coalesce_ms: int = 0) -> AvailabilitySettings:
    return AvailabilitySettings(REFERENCE, coalesce=timedelta(milliseconds=coalesce_ms))


def receipt(units: int, location: str = "DC-EAST", minute: int = 0) -> StockDelta:
    return StockDelta(SKU, location, units, 0, T + timedelta(minutes=minute))


def updates(outputs: list[AvailabilityUpdate | Anomaly]) -> dict[tuple[str, str | None], int]:
    return {
        (u.channel.value, u.location): u.available_to_sell
        for u in outputs
        if isinstance(u, AvailabilityUpdate)
    }


def test_a_receipt_publishes_to_the_channels_the_location_serves() -> None:
    stock = SkuStock()
    outputs = stock.apply(receipt(20), settings(), T)
    # web: 20 - safety 2 - buffer 1; marketplace: (20 - 3) * 0.5 rounded down - buffer 2.
    assert updates(outputs) == {("marketplace", None): 6, ("web", None): 17}
    store = stock.apply(receipt(4, "S-014"), settings(), T)
    # POS publishes per store; web adds the store's surplus (4 - safety 2) to its total.
    assert updates(store) == {("pos", "S-014"): 4, ("web", None): 19}


def test_versions_grow_per_key_and_unchanged_numbers_are_not_sent() -> None:
    stock = SkuStock()
    first = stock.apply(receipt(20), settings(), T)
    again = stock.apply(StockDelta(SKU, "DC-EAST", 0, 0, T), settings(), T)
    second = stock.apply(receipt(-1), settings(), T)
    assert again == []
    web = [u for u in first + second if isinstance(u, AvailabilityUpdate) and u.channel == "web"]
    # Versions are publish times in microseconds, one more when the clock has not moved.
    micros = int(T.timestamp() * 1_000_000)
    assert [(u.available_to_sell, u.version) for u in web] == [(17, micros), (16, micros + 1)]
    assert (web[1].on_hand, web[1].reserved, web[1].safety_stock) == (19, 0, 6)


def test_coalescing_holds_changes_but_not_a_drop_to_zero() -> None:
    stock = SkuStock()
    rule = settings(coalesce_ms=250)
    assert updates(stock.apply(receipt(20), rule, T)) != {}  # a rise from zero: at once
    assert stock.apply(receipt(-1), rule, T) == []
    assert stock.apply(receipt(-1), rule, T) == []
    assert stock.pending_until == T + timedelta(milliseconds=250)
    flushed = stock.flush(rule, T + timedelta(milliseconds=250))
    assert updates(flushed) == {("marketplace", None): 5, ("web", None): 15}
    assert updates(stock.apply(receipt(-18), rule, T)) == {
        ("marketplace", None): 0,
        ("web", None): 0,
    }


def test_a_change_undone_within_the_window_sends_nothing() -> None:
    stock = SkuStock()
    rule = settings(coalesce_ms=250)
    stock.apply(receipt(20), rule, T)
    stock.apply(receipt(-1), rule, T)
    stock.apply(receipt(1), rule, T)
    assert stock.flush(rule, T + timedelta(seconds=1)) == []


def test_an_order_claiming_more_than_the_location_has_free_is_an_oversell() -> None:
    stock = SkuStock()
    stock.apply(receipt(10), settings(), T)
    held = StockDelta(SKU, "DC-EAST", 0, 8, T, Channel.WEB, "1001", claimed=8)
    within = StockDelta(SKU, "DC-EAST", 0, 2, T, Channel.MARKETPLACE, "113-0", claimed=2)
    beyond = StockDelta(SKU, "DC-EAST", 0, 3, T, Channel.MARKETPLACE, "113-1", claimed=3)
    # Claims are judged once event time has settled, not as they arrive.
    for claim in (beyond, held, within):
        assert [o for o in stock.apply(claim, settings(), T) if isinstance(o, Anomaly)] == []
    settled = stock.settle(T, settings(), T, watermark=T)
    # In event-time order (ties by order id): selling into safety stock or beyond the channel's
    # share is not yet an oversell; promising what is not on the shelf is.
    (anomaly,) = [o for o in settled if isinstance(o, Anomaly)]
    assert anomaly.anomaly_type == "oversell"
    assert anomaly.quantity == 3
    assert anomaly.details["free"] == "0"
    assert anomaly.anomaly_id == "oversell:marketplace:113-1:SKU-1001:DC-EAST"


def test_a_count_sets_on_hand() -> None:
    stock = SkuStock()
    stock.apply(receipt(20), settings(), T)
    outputs = stock.apply(StockCount(SKU, "DC-EAST", 5, T + timedelta(hours=1)), settings(), T)
    assert updates(outputs)[("web", None)] == 2


changes = st.lists(
    st.one_of(
        st.builds(
            StockDelta,
            sku=st.just(SKU),
            location=st.sampled_from(sorted(REFERENCE.locations)),
            on_hand=st.integers(-30, 60),
            reserved=st.integers(-5, 10),
            event_time=st.integers(0, 600).map(lambda m: T + timedelta(minutes=m)),
        ),
        st.builds(
            StockCount,
            sku=st.just(SKU),
            location=st.sampled_from(sorted(REFERENCE.locations)),
            counted=st.integers(0, 80),
            event_time=st.integers(0, 600).map(lambda m: T + timedelta(minutes=m)),
        ),
    ),
    max_size=40,
)


@given(changes)
def test_published_numbers_are_never_negative_nor_beyond_the_shelf(
    sequence: list[StockDelta | StockCount],
) -> None:
    stock = SkuStock()
    for change in sequence:
        for output in stock.apply(change, settings(), T):
            if not isinstance(output, AvailabilityUpdate):
                continue
            policy_ = REFERENCE.channels[output.channel]
            locations = (
                [output.location] if output.location else REFERENCE.locations_for(output.channel)
            )
            shelf = sum(
                max(0, stock.positions[code].on_hand - policy_.safety_stock)
                for code in locations
                if code in stock.positions
            )
            assert 0 <= output.available_to_sell <= shelf


def test_after_a_resume_the_next_change_of_a_restored_key_goes_out_at_once() -> None:
    stock = SkuStock()
    stock.apply(receipt(20), settings(coalesce_ms=250), T)
    stock.resumed()
    later = T + timedelta(seconds=5)
    # Within the window, and it would be held: but a predecessor may have published after the
    # snapshot, so this one supersedes whatever that was, with a later version.
    outputs = stock.apply(receipt(-1), settings(coalesce_ms=250), later)
    web = [u for u in outputs if isinstance(u, AvailabilityUpdate) and u.channel == "web"]
    assert [u.available_to_sell for u in web] == [16]
    assert web[0].version == int(later.timestamp() * 1_000_000)
    assert stock.apply(receipt(-1), settings(coalesce_ms=250), later) == []  # held again


def test_a_movement_delivered_twice_moves_stock_once_and_says_so() -> None:
    stock = SkuStock()
    received = StockDelta(SKU, "DC-EAST", 20, 0, T, movement_id="WMS-1")
    assert updates(stock.apply(received, settings(), T)) != {}
    (again,) = stock.apply(received, settings(), T)
    assert isinstance(again, Anomaly)
    assert (again.anomaly_type, again.anomaly_id) == (
        "duplicate_event",
        "duplicate_event:movement:WMS-1",
    )
    assert stock.positions["DC-EAST"].on_hand == 20


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), max_size=8),
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=0, max_value=50),
)
def test_the_share_in_integers_is_the_decimal_share_rounded_down(
    surpluses: list[int], basis_points: int, buffer: int
) -> None:
    share = Decimal(basis_points).scaleb(-4)
    rule = policy(buffer=buffer, share=str(share))
    by_decimals = int((Decimal(sum(surpluses)) * share).to_integral_value(ROUND_FLOOR))
    assert available_to_sell(surpluses, rule) == max(0, by_decimals - buffer)
