"""The marketplace: SP-API-style orders, re-sent whole with a newer date at every status change.

An order arrives `Pending` (payment not confirmed, nothing reserved), turns `Unshipped` once paid
(stock reserved at its ship-from DC), then `Shipped` hours later (stock consumed), unless it is
`Canceled` on the way. `ItemPrice` is the price of all units of the item; `OrderTotal` is the
sum of item prices and item taxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.scenario.basket import BASKETS
from omnichannel.scenario.clock import HOUR_MS, MINUTE_MS, between, iso_utc
from omnichannel.scenario.floor import Floor
from omnichannel.scenario.money import ZERO
from omnichannel.scenario.records import MARKETPLACE_ORDERS, Draft

US_MARKETPLACE = "ATVPDKIKX0DER"
MARKETPLACE_TAX_CODE = "A_GEN_TAX"
PAYMENT_DECLINED_SHARE = 0.03
BUYER_CANCEL_SHARE = 0.02
# A sold-out listing still buyable: the marketplace's copy of availability lagged behind.
STALE_LISTING_SHARE = 0.08
# Marketplace-facilitator sales tax of the buyer's state.
BUYER_STATE_TAX_RATES = tuple(Decimal(r) for r in ("0.06", "0.0625", "0.07", "0.0725", "0.08875"))


@dataclass(slots=True, eq=False)
class MarketplaceItem:
    """One item of a marketplace order: all its units' price and tax."""

    item_id: str
    sku: int
    quantity: int
    price: Decimal
    tax: Decimal
    price_text: str
    tax_text: str


@dataclass(slots=True, eq=False)
class MarketplaceOrder:
    """A marketplace order and every version of it the marketplace sent."""

    order_id: str
    purchase_ms: int
    location: int
    items: list[MarketplaceItem]
    total: Decimal
    total_text: str
    reserved: bool = False
    shipped: bool = False
    statuses: list[Draft] = field(default_factory=list)


class Marketplace:
    """Takes marketplace orders through the day, shipped from the DCs that serve it."""

    def __init__(self, floor: Floor, outlets: list[tuple[int, float]]) -> None:
        self.floor = floor
        self.rng = floor.rng("marketplace")
        shape = BASKETS[Channel.MARKETPLACE]
        self._draw_lines = shape.lines.sampler(self.rng)
        self._draw_units = shape.units.sampler(self.rng)
        self._pick = floor.assortment.picker(self.rng)
        self.purse = floor.purses["USD"]
        self.outlets = [location for location, _ in outlets]
        self.orders: list[MarketplaceOrder] = []
        self._id_base = self.rng.randrange(10**7)
        self._item_base = self.rng.randrange(10**13, 9 * 10**13)
        self._item_seq = 0

    def open(self, orders: int, hourly_weights: tuple[float, ...]) -> None:
        arrivals = self.floor.day.arrivals(self.rng, hourly_weights, orders)
        self.floor.timeline.at_each(arrivals, self._purchase, None)

    def _purchase(self, now: int, _: None) -> None:
        rng, book, assortment = self.rng, self.floor.book, self.floor.assortment
        pick, draw_units = self._pick, self._draw_units
        wanted: dict[int, int] = {}
        for _line in range(self._draw_lines()):
            wanted.setdefault(pick(), draw_units())
        on_hand, reserved, width = book.on_hand, book.reserved, book.width
        stocked = [
            location
            for location in self.outlets
            if all(
                on_hand[s * width + location] - reserved[s * width + location] >= u
                for s, u in wanted.items()
            )
        ]
        if stocked:
            location = stocked[between(rng, 0, len(stocked))]
        elif rng.random() < STALE_LISTING_SHARE:
            location = self.outlets[rng.randrange(len(self.outlets))]
            self.floor.oversells[Channel.MARKETPLACE.value] += 1
        else:
            return
        rate = BUYER_STATE_TAX_RATES[between(rng, 0, len(BUYER_STATE_TAX_RATES))]
        items = []
        for sku, quantity in wanted.items():
            self._item_seq += 1
            price = assortment.usd_prices[sku] * quantity
            item_id = str(self._item_base + self._item_seq)
            tax = self.purse.round(price * rate)
            texts = self.purse.text(price), self.purse.text(tax)
            items.append(MarketplaceItem(item_id, sku, quantity, price, tax, *texts))
        sequence = (self._id_base + len(self.orders) * 7_919) % 10**7
        order_id = f"{between(rng, 111, 115)}-{between(rng, 0, 10**7):07d}-{sequence:07d}"
        total = sum((item.price + item.tax for item in items), ZERO)
        order = MarketplaceOrder(order_id, now, location, items, total, self.purse.text(total))
        self.orders.append(order)
        self._post(now, order, "Pending")
        if rng.random() < PAYMENT_DECLINED_SHARE:
            self.floor.timeline.at(now + between(rng, 2 * MINUTE_MS, HOUR_MS), self._cancel, order)
        else:
            self.floor.timeline.at(
                now + between(rng, MINUTE_MS, 30 * MINUTE_MS), self._confirm_payment, order
            )

    def _confirm_payment(self, now: int, order: MarketplaceOrder) -> None:
        book = self.floor.book
        for item in order.items:
            slot = book.slot(item.sku, order.location)
            book.reserved[slot] += item.quantity
            book.drawn.append(slot)
        order.reserved = True
        self._post(now, order, "Unshipped")
        if self.rng.random() < BUYER_CANCEL_SHARE:
            self.floor.timeline.at(
                now + between(self.rng, 10 * MINUTE_MS, 4 * HOUR_MS), self._cancel, order
            )
        else:
            self.floor.timeline.at(
                now + between(self.rng, HOUR_MS, 10 * HOUR_MS), self._ship, order
            )

    def _ship(self, now: int, order: MarketplaceOrder) -> None:
        book = self.floor.book
        slots = [book.slot(item.sku, order.location) for item in order.items]
        if any(book.on_hand[s] < item.quantity for s, item in zip(slots, order.items, strict=True)):
            # Oversold: nothing to pick, so the seller cancels rather than ship late.
            self._cancel(now, order)
            return
        for slot, item in zip(slots, order.items, strict=True):
            book.on_hand[slot] -= item.quantity
            book.reserved[slot] -= item.quantity
        order.reserved = False
        order.shipped = True
        self._post(now, order, "Shipped")

    def _cancel(self, now: int, order: MarketplaceOrder) -> None:
        if order.reserved:
            book = self.floor.book
            for item in order.items:
                book.reserved[book.slot(item.sku, order.location)] -= item.quantity
            order.reserved = False
        self._post(now, order, "Canceled")

    def _post(self, now: int, order: MarketplaceOrder, status: str) -> None:
        currency = self.purse.currency
        skus = self.floor.assortment.skus
        shipped = status == "Shipped"
        body: dict[str, Any] = {
            "AmazonOrderId": order.order_id,
            "MarketplaceId": US_MARKETPLACE,
            "PurchaseDate": iso_utc(order.purchase_ms),
            "LastUpdateDate": iso_utc(now),
            "OrderStatus": status,
            "FulfillmentChannel": "MFN",
            "OrderTotal": {"CurrencyCode": currency, "Amount": order.total_text},
            "OrderItems": [
                {
                    "OrderItemId": item.item_id,
                    "SellerSKU": skus[item.sku],
                    "QuantityOrdered": item.quantity,
                    "QuantityShipped": item.quantity if shipped else 0,
                    "ItemPrice": {"CurrencyCode": currency, "Amount": item.price_text},
                    "ItemTax": {"CurrencyCode": currency, "Amount": item.tax_text},
                    "TaxCode": MARKETPLACE_TAX_CODE,
                }
                for item in order.items
            ],
            "ShipFromLocation": self.floor.book.locations[order.location],
        }
        draft = self.floor.outbox.post(MARKETPLACE_ORDERS, order.order_id, body, now, status)
        order.statuses.append(draft)
