"""What each order lifecycle does to stock, whatever the order of arrival and however often."""

from __future__ import annotations

import itertools

import pytest

from omnichannel.contracts.order_event import OrderEvent
from operators.availability.order_events import OrderStockEvent
from operators.availability.order_stock import OrderStock
from tests.unit.availability_events import marketplace, pos, web_fulfillment, web_order, web_refund

DC = ("SKU-1001", "DC-EAST")
MP = ("SKU-2040", "DC-EAST")
STORE = ("SKU-1001", "S-014")


def net(events: list[OrderEvent]) -> dict[tuple[str, str], tuple[int, int]]:
    """Sum of (on-hand change, reserved change) per spot after applying the events in order."""
    order = OrderStock()
    total: dict[tuple[str, str], tuple[int, int]] = {}
    for event in events:
        for delta in order.apply(OrderStockEvent.of(event)):
            on_hand, reserved = total.get((delta.sku, delta.location), (0, 0))
            total[(delta.sku, delta.location)] = (
                on_hand + delta.on_hand,
                reserved + delta.reserved,
            )
    return {spot: change for spot, change in total.items() if change != (0, 0)}


def test_web_create_reserves_and_cancel_releases() -> None:
    assert net([web_order()]) == {DC: (0, 2)}
    assert net([web_order(), web_order("orders/cancelled", minute=5)]) == {}


def test_web_fulfilment_consumes_and_releases() -> None:
    assert net([web_order(), web_fulfillment()]) == {DC: (-2, 0)}


def test_partial_fulfilments_add_up() -> None:
    events = [web_order(), web_fulfillment(1, 30, 1), web_fulfillment(2, 40, 1)]
    assert net(events) == {DC: (-2, 0)}


def test_refund_with_restock_returns_only_what_was_shipped() -> None:
    assert net([web_order(), web_fulfillment(), web_refund()]) == {DC: (-1, 0)}
    assert net([web_order(), web_fulfillment(), web_refund(restock=False)]) == {DC: (-2, 0)}
    # Before its fulfilment, a refund's restock waits: nothing is back on the shelf yet.
    assert net([web_order(), web_refund()]) == {DC: (0, 2)}


@pytest.mark.parametrize(
    "events",
    [
        [web_order(), web_fulfillment(), web_refund()],
        [web_refund(), web_fulfillment(), web_order()],
        [web_fulfillment(), web_order(), web_refund(), web_order(), web_fulfillment()],
    ],
)
def test_arrival_order_and_redelivery_do_not_change_the_result(events: list[OrderEvent]) -> None:
    assert net(events) == {DC: (-1, 0)}


def test_marketplace_lifecycle() -> None:
    assert net([marketplace("Pending", 0)]) == {}
    assert net([marketplace("Pending", 0), marketplace("Unshipped", 5)]) == {MP: (0, 3)}
    shipped = [marketplace("Pending", 0), marketplace("Unshipped", 5), marketplace("Shipped", 9)]
    assert net(shipped) == {MP: (-3, 0)}
    assert net([marketplace("Unshipped", 5), marketplace("Canceled", 9)]) == {}


@pytest.mark.parametrize(
    "events",
    list(
        itertools.permutations(
            [marketplace("Pending", 0), marketplace("Unshipped", 5), marketplace("Shipped", 9)]
        )
    ),
)
def test_late_or_resent_statuses_never_reserve_or_release_twice(events: tuple[OrderEvent]) -> None:
    assert net([*events, *events]) == {MP: (-3, 0)}


def test_pos_sale_return_and_void() -> None:
    assert net([pos()]) == {STORE: (-1, 0)}
    assert net([pos(), pos()]) == {STORE: (-1, 0)}
    assert net([pos("RETURN", 88200)]) == {STORE: (1, 0)}
    assert net([pos(), pos("VOID", 88122, voids=88121)]) == {}
    # A void that overtakes its sale keeps the sale from ever moving stock.
    assert net([pos("VOID", 88122, voids=88121), pos()]) == {}


def test_new_claims_are_marked_for_the_oversell_check() -> None:
    order = OrderStock()
    (reserve,) = order.apply(OrderStockEvent.of(web_order()))
    shipping = order.apply(OrderStockEvent.of(web_fulfillment()))
    assert reserve.claimed == 2
    assert [delta.claimed for delta in shipping] == [0, 0]
    (sale,) = OrderStock().apply(OrderStockEvent.of(pos()))
    assert sale.claimed == 1


def test_on_hand_changes_carry_the_time_they_happened() -> None:
    order = OrderStock()
    order.apply(OrderStockEvent.of(web_order(minute=0)))
    order.apply(
        OrderStockEvent.of(web_refund(minute=10))
    )  # delivered first, refunded after the shipment
    shipping = order.apply(OrderStockEvent.of(web_fulfillment(minute=30)))
    on_hand = sorted((d.on_hand, d.event_time.minute) for d in shipping if d.on_hand)
    # The shipment at 08:30; the restock cannot be earlier than the goods left: 08:30 too.
    assert on_hand == [(-2, 30), (1, 30)]

    receipt = OrderStock()
    (sale,) = receipt.apply(OrderStockEvent.of(pos()))
    (taken_back,) = receipt.apply(OrderStockEvent.of(pos("VOID", 88122, voids=88121)))
    # A void takes the sale back at the sale's own time.
    assert (taken_back.on_hand, taken_back.event_time) == (1, sale.event_time)
