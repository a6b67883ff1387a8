"""The web shop: Shopify-style webhooks for an order's life, from checkout to refund.

An order is created (reserving stock at its fulfilment location), then mostly fulfilled minutes
to hours later at that location, now and then cancelled instead, and sometimes refunded after
fulfilment, with or without restocking. Amounts obey the rules an adapter checks: subtotal is
the sum of line price times quantity, total tax the sum of the tax lines, and the total is
subtotal less discounts plus shipping plus tax.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.scenario.basket import BASKETS, Spread
from omnichannel.scenario.clock import HOUR_MS, MINUTE_MS, between, iso_utc
from omnichannel.scenario.floor import Floor
from omnichannel.scenario.money import ZERO
from omnichannel.scenario.records import WEB_ORDERS, Draft

CANCEL_SHARE = 0.05
REFUND_SHARE = 0.07
FULL_REFUND_SHARE = 0.3
RESTOCK_SHARE = 0.6
# A sold-out item still offered for sale: the shop's availability feed lagged behind.
STALE_FEED_SHARE = 0.08
EXPRESS_SHARE = 0.1
BLACK_FRIDAY_CODE_SHARE = 0.2
WELCOME_CODE_SHARE = 0.08
BLACK_FRIDAY_DISCOUNT = Decimal("0.20")
WELCOME_DISCOUNT = Decimal("5.00")
STANDARD_SHIPPING = Decimal("5.00")
EXPRESS_SHIPPING = Decimal("15.00")
FREE_SHIPPING_FROM = Decimal("50.00")


@dataclass(slots=True, eq=False)
class WebLine:
    """One line of a web order, with its share of the order's discount and its tax."""

    item_id: int
    sku: int
    quantity: int
    price: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO


@dataclass(slots=True, eq=False)
class WebOrder:
    """A web order and the webhooks its life produced."""

    order_id: int
    location: int
    lines: list[WebLine]
    shipping: Decimal
    placed: Draft
    cancelled: Draft | None = None
    fulfilment: Draft | None = None
    refund: Draft | None = None


class WebShop:
    """Takes web orders through the day and sends their webhooks."""

    def __init__(self, floor: Floor, outlets: list[tuple[int, float]]) -> None:
        self.floor = floor
        self.rng = floor.rng("web")
        shape = BASKETS[Channel.WEB]
        self._draw_lines = shape.lines.sampler(self.rng)
        self._draw_units = shape.units.sampler(self.rng)
        self._pick = floor.assortment.picker(self.rng)
        self.outlets = [location for location, _ in outlets]
        self.ship_from_spread = Spread(tuple(self.outlets), tuple(weight for _, weight in outlets))
        self.purse = floor.purses["USD"]
        self.tax_lines: list[tuple[str, Decimal, str]] = []
        self.orders: list[WebOrder] = []
        self._order_seq = 0
        self._item_seq = 0
        self._fulfilment_seq = 0
        self._refund_seq = 0
        self._order_base = self.rng.randrange(5 * 10**17, 9 * 10**17)
        self._fulfilment_base = self.rng.randrange(10**15, 9 * 10**15)
        self._refund_base = self.rng.randrange(10**15, 9 * 10**15)

    def with_tax(self, title: str, rate: Decimal) -> WebShop:
        """Ship-to states the shop collects sales tax for: the title and rate of a tax line."""
        self.tax_lines.append((title, rate, str(rate)))
        return self

    def open(self, orders: int, hourly_weights: tuple[float, ...]) -> None:
        arrivals = self.floor.day.arrivals(self.rng, hourly_weights, orders)
        self.floor.timeline.at_each(arrivals, self._place, None)

    def _place(self, now: int, _: None) -> None:
        rng, book = self.rng, self.floor.book
        pick, draw_units = self._pick, self._draw_units
        wanted: dict[int, int] = {}
        for _line in range(self._draw_lines()):
            wanted.setdefault(pick(), draw_units())
        preferred = self.ship_from_spread.draw(rng)
        location = self._ship_from(wanted, preferred)
        if location is None:
            wanted = {
                sku: units
                for sku, units in wanted.items()
                if self._in_stock_anywhere(sku, units) or rng.random() < STALE_FEED_SHARE
            }
            if not wanted:
                return
            location = self._ship_from(wanted, preferred)
            if location is None:
                location = preferred
                self.floor.oversells[Channel.WEB.value] += 1
        order = self._new_order(now, wanted, location)
        reserved, width, drawn = book.reserved, book.width, book.drawn
        for line in order.lines:
            slot = line.sku * width + location
            reserved[slot] += line.quantity
            drawn.append(slot)
        self.orders.append(order)
        if rng.random() < CANCEL_SHARE:
            self.floor.timeline.at(
                now + between(rng, 5 * MINUTE_MS, 3 * HOUR_MS), self._cancel_by_customer, order
            )
        else:
            self.floor.timeline.at(
                now + between(rng, 20 * MINUTE_MS, 6 * HOUR_MS), self._fulfil, order
            )

    def _ship_from(self, wanted: dict[int, int], preferred: int) -> int | None:
        """The preferred location if it has every line in stock, else another that has."""
        book = self.floor.book
        on_hand, reserved, width = book.on_hand, book.reserved, book.width
        for location in (preferred, *self.outlets):
            for sku, units in wanted.items():
                slot = sku * width + location
                if on_hand[slot] - reserved[slot] < units:
                    break
            else:
                return location
        return None

    def _in_stock_anywhere(self, sku: int, units: int) -> bool:
        book = self.floor.book
        return any(book.available(book.slot(sku, loc)) >= units for loc in self.outlets)

    def _new_order(self, now: int, wanted: dict[int, int], location: int) -> WebOrder:
        rng, purse, assortment = self.rng, self.purse, self.floor.assortment
        prices = assortment.usd_prices
        lines = []
        subtotal = ZERO
        for sku, units in wanted.items():
            self._item_seq += 1
            line = WebLine(self._item_seq, sku, units, prices[sku])
            subtotal += line.price * units
            lines.append(line)
        discount_codes, discount = self._discount(subtotal)
        if discount:
            _share_discount(lines, discount, subtotal, purse.round)
        title, rate, rate_text = self.tax_lines[int(rng.random() * len(self.tax_lines))]
        total_tax = ZERO
        skus, price_texts, unit = assortment.skus, assortment.usd_price_texts, purse.unit
        line_items = []
        for line in lines:
            # Taxable amounts are never negative, so `str` of the rounded tax is its text.
            line.tax = tax = ((line.price * line.quantity - line.discount) * rate).quantize(
                unit, ROUND_HALF_UP
            )
            total_tax += tax
            line_items.append(
                {
                    "id": line.item_id,
                    "sku": skus[line.sku],
                    "quantity": line.quantity,
                    "price": price_texts[line.sku],
                    "tax_lines": [{"title": title, "rate": rate_text, "price": str(tax)}],
                }
            )
        if rng.random() < EXPRESS_SHARE:
            shipping_code, shipping = "EXP", EXPRESS_SHIPPING
        elif subtotal - discount >= FREE_SHIPPING_FROM:
            shipping_code, shipping = "FREE", ZERO
        else:
            shipping_code, shipping = "STD", STANDARD_SHIPPING
        self._order_seq += 1
        order_id = self._order_base + self._order_seq * 1_009 + int(rng.random() * 1_000)
        stamp = iso_utc(now)
        text = purse.text
        body: dict[str, Any] = {
            "topic": "orders/create",
            "id": order_id,
            "name": f"#{1000 + self._order_seq}",
            "created_at": stamp,
            "updated_at": stamp,
            "currency": purse.currency,
            "subtotal_price": text(subtotal),
            "total_tax": text(total_tax),
            "total_discounts": text(discount),
            "total_price": text(subtotal - discount + shipping + total_tax),
            "shipping_lines": [{"code": shipping_code, "price": text(shipping)}],
            "discount_codes": discount_codes,
            "fulfillment_location": self.floor.book.locations[location],
            "line_items": line_items,
        }
        placed = self.floor.outbox.post(WEB_ORDERS, str(order_id), body, now, "orders/create")
        return WebOrder(order_id, location, lines, shipping, placed)

    def _discount(self, subtotal: Decimal) -> tuple[list[dict[str, str]], Decimal]:
        draw = self.rng.random()
        if draw < BLACK_FRIDAY_CODE_SHARE:
            amount = self.purse.round(subtotal * BLACK_FRIDAY_DISCOUNT)
            return [{"code": "BF20", "amount": self.purse.text(amount)}], amount
        if draw < BLACK_FRIDAY_CODE_SHARE + WELCOME_CODE_SHARE and subtotal >= 2 * WELCOME_DISCOUNT:
            return [{"code": "WELCOME5", "amount": self.purse.text(WELCOME_DISCOUNT)}], (
                WELCOME_DISCOUNT
            )
        return [], ZERO

    def _cancel_by_customer(self, now: int, order: WebOrder) -> None:
        self._cancel(now, order, "customer")

    def _cancel(self, now: int, order: WebOrder, reason: str) -> None:
        book = self.floor.book
        for line in order.lines:
            book.reserved[book.slot(line.sku, order.location)] -= line.quantity
        stamp = iso_utc(now)
        # The same body as the order's creation: read back from its message, which spares
        # keeping every order's body in memory for the few that are cancelled.
        body = {
            **json.loads(order.placed.value),
            "topic": "orders/cancelled",
            "updated_at": stamp,
            "cancelled_at": stamp,
            "cancel_reason": reason,
        }
        key = str(order.order_id)
        order.cancelled = self.floor.outbox.post(WEB_ORDERS, key, body, now, "orders/cancelled")

    def _fulfil(self, now: int, order: WebOrder) -> None:
        book = self.floor.book
        on_hand, reserved, width, location = book.on_hand, book.reserved, book.width, order.location
        for line in order.lines:
            if on_hand[line.sku * width + location] < line.quantity:
                # Oversold: nothing to pick, so the shop cancels, as shops do after a stock-out.
                self._cancel(now, order, "inventory")
                return
        for line in order.lines:
            slot = line.sku * width + location
            on_hand[slot] -= line.quantity
            reserved[slot] -= line.quantity
        skus = self.floor.assortment.skus
        self._fulfilment_seq += 1
        body = {
            "topic": "fulfillments/create",
            "id": self._fulfilment_base + self._fulfilment_seq,
            "order_id": order.order_id,
            "created_at": iso_utc(now),
            "location": book.locations[order.location],
            "line_items": [
                {"sku": skus[line.sku], "quantity": line.quantity} for line in order.lines
            ],
        }
        key = str(order.order_id)
        order.fulfilment = self.floor.outbox.post(WEB_ORDERS, key, body, now, "fulfillments/create")
        if self.rng.random() < REFUND_SHARE:
            self.floor.timeline.at(
                now + between(self.rng, 30 * MINUTE_MS, 8 * HOUR_MS), self._refund, order
            )

    def _refund(self, now: int, order: WebOrder) -> None:
        rng, purse, book = self.rng, self.purse, self.floor.book
        if rng.random() < FULL_REFUND_SHARE:
            returned = [(line, line.quantity) for line in order.lines]
            shipping_refund = order.shipping
        else:
            line = order.lines[rng.randrange(len(order.lines))]
            returned = [(line, rng.randint(1, line.quantity))]
            shipping_refund = ZERO
        restock = rng.random() < RESTOCK_SHARE
        if restock:
            for line, units in returned:
                book.on_hand[book.slot(line.sku, order.location)] += units
        skus = self.floor.assortment.skus
        self._refund_seq += 1
        body = {
            "topic": "refunds/create",
            "id": self._refund_base + self._refund_seq,
            "order_id": order.order_id,
            "created_at": iso_utc(now),
            "restock": restock,
            "location": book.locations[order.location],
            "refund_line_items": [
                {
                    "sku": skus[line.sku],
                    "quantity": units,
                    "subtotal": purse.text(
                        (line.price * line.quantity - line.discount) * units / line.quantity
                    ),
                    "total_tax": purse.text(line.tax * units / line.quantity),
                }
                for line, units in returned
            ],
            "shipping_refund": purse.text(shipping_refund),
        }
        key = str(order.order_id)
        order.refund = self.floor.outbox.post(WEB_ORDERS, key, body, now, "refunds/create")


def _share_discount(
    lines: list[WebLine], discount: Decimal, subtotal: Decimal, round_: Callable[[Decimal], Decimal]
) -> None:
    """Spread an order's discount over its lines by value, adding up to the discount exactly.

    The largest line takes the cents that rounding leaves over, so no share goes negative.
    """
    if not discount:
        return
    largest = max(lines, key=lambda line: line.price * line.quantity)
    for line in lines:
        if line is not largest:
            line.discount = round_(discount * line.price * line.quantity / subtotal)
    largest.discount = discount - sum(
        (line.discount for line in lines if line is not largest), ZERO
    )
