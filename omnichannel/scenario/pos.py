"""Store tills: the receipts each store's point of sale sends, sales, returns and voids.

Receipts of a store are numbered in the order they are rung up, whatever the register. A sale
takes goods off the store's shelf at once; a return brings them back and names the receipt it
returns from; a void cancels a receipt rung up minutes before at the same register. Prices
include VAT and `total` is the sum of unit price times quantity less discount over the lines.
"""

from __future__ import annotations

import json
from bisect import bisect
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.scenario.basket import BASKETS
from omnichannel.scenario.clock import (
    MINUTE_MS,
    SECOND_MS,
    STORE_UTC_OFFSET_MS,
    between,
    iso_store,
)
from omnichannel.scenario.floor import Floor
from omnichannel.scenario.money import ZERO
from omnichannel.scenario.records import POS_ORDERS, Draft

RETURN_SHARE = 0.04
VOID_SHARE = 0.01
CASH_SHARE = 0.25
LINE_DISCOUNT_SHARE = 0.3
LINE_DISCOUNTS = (Decimal("0.10"), Decimal("0.20"), Decimal("0.30"))
# Scanned although the stock book says the shelf is empty: the book was wrong.
BOOK_ERROR_SHARE = 0.05
RETURN_NOT_BEFORE_MS = 10 * MINUTE_MS
PICK_ATTEMPTS = 3


@dataclass(slots=True, eq=False)
class Receipt:
    """A sale as the till remembers it, for a later return or void."""

    register: int
    units: list[tuple[int, int]]
    tender: str
    message: Draft
    voided: bool = False
    returned: bool = False


@dataclass(eq=False)
class Store:
    """One store's tills: its registers, its receipt counter, and what it sold today."""

    code: str
    location: int
    registers: int
    next_receipt_no: int
    sales: list[Receipt] = field(default_factory=list)
    sale_times: list[int] = field(default_factory=list)
    receipts: list[Draft] = field(default_factory=list)


class StoreTills:
    """The tills of every store that trades today."""

    def __init__(self, floor: Floor, outlets: list[tuple[int, float]]) -> None:
        self.floor = floor
        self.rng = floor.rng("pos")
        shape = BASKETS[Channel.POS]
        self._draw_lines = shape.lines.sampler(self.rng)
        self._draw_units = shape.units.sampler(self.rng)
        self._pick = floor.assortment.picker(self.rng)
        self.purse = floor.purses["EUR"]
        self.weights = [weight for _, weight in outlets]
        self.stores = [
            Store(
                floor.book.locations[location],
                location,
                self.rng.randint(3, 8),
                self.rng.randrange(10_000, 80_000),
            )
            for location, _ in outlets
        ]

    def open(self, receipts: int, hourly_weights: tuple[float, ...]) -> None:
        total = sum(self.weights)
        for store, weight in zip(self.stores, self.weights, strict=True):
            count = round(receipts * weight / total)
            arrivals = self.floor.day.arrivals(self.rng, hourly_weights, count, STORE_UTC_OFFSET_MS)
            self.floor.timeline.at_each(arrivals, self._customer, store)

    def _customer(self, now: int, store: Store) -> None:
        """A customer at the till: mostly buying, now and then bringing something back."""
        if self.rng.random() < RETURN_SHARE and self._return(now, store):
            return
        units = self._basket(store)
        if units:
            self._sale(now, store, units)

    def _basket(self, store: Store) -> dict[int, int]:
        """Units per SKU the customer takes off this store's shelves."""
        # On every receipt's path: stock positions are looked up inline.
        rng, book = self.rng, self.floor.book
        on_hand, reserved, width, location = book.on_hand, book.reserved, book.width, store.location
        pick, draw_units = self._pick, self._draw_units
        units: dict[int, int] = {}
        for _line in range(self._draw_lines()):
            for _attempt in range(PICK_ATTEMPTS):
                sku, quantity = pick(), draw_units()
                slot = sku * width + location
                if sku not in units and on_hand[slot] - reserved[slot] >= quantity:
                    units[sku] = quantity
                    break
            else:
                if sku not in units and rng.random() < BOOK_ERROR_SHARE:
                    units[sku] = quantity
                    self.floor.oversells[Channel.POS.value] += 1
        return units

    def _sale(self, now: int, store: Store, units: dict[int, int]) -> None:
        rng, book, assortment = self.rng, self.floor.book, self.floor.assortment
        on_hand, width, location = book.on_hand, book.width, store.location
        purse, prices, price_texts = self.purse, assortment.eur_prices, assortment.eur_price_texts
        eans, tax_codes, drawn = assortment.eans, assortment.store_tax_codes, book.drawn
        lines, total = [], ZERO
        for sku, quantity in units.items():
            gross = prices[sku] * quantity
            if rng.random() < LINE_DISCOUNT_SHARE:
                discount = purse.round(
                    gross * LINE_DISCOUNTS[int(rng.random() * len(LINE_DISCOUNTS))]
                )
                discount_text = str(discount)
                total += gross - discount
            else:
                discount_text = purse.zero_text
                total += gross
            lines.append(
                {
                    "ean": eans[sku],
                    "qty": quantity,
                    "unit_price": price_texts[sku],
                    "tax_code": tax_codes[sku],
                    "discount": discount_text,
                }
            )
            slot = sku * width + location
            on_hand[slot] -= quantity
            drawn.append(slot)
        register = 1 + int(rng.random() * store.registers)
        tender = "CASH" if rng.random() < CASH_SHARE else "CARD"
        message = self._post(now, store, "SALE", register, tender, lines, purse.text(total))
        receipt = Receipt(register, list(units.items()), tender, message)
        store.sales.append(receipt)
        store.sale_times.append(now)
        if rng.random() < VOID_SHARE:
            self.floor.timeline.at(
                now + between(rng, 20 * SECOND_MS, 8 * MINUTE_MS), self._void, (store, receipt)
            )

    def _void(self, now: int, subject: tuple[Store, Receipt]) -> None:
        store, receipt = subject
        if receipt.returned:
            return
        receipt.voided = True
        book = self.floor.book
        for sku, quantity in receipt.units:
            book.on_hand[book.slot(sku, store.location)] += quantity
        sale = _read_back(receipt)
        self._post(
            now,
            store,
            "VOID",
            receipt.register,
            receipt.tender,
            sale["lines"],
            sale["total"],
            voids=sale["receipt_no"],
        )

    def _return(self, now: int, store: Store) -> bool:
        """Take back goods of an earlier sale of this store; False when there is none."""
        rng = self.rng
        eligible = bisect(store.sale_times, now - RETURN_NOT_BEFORE_MS)
        if not eligible:
            return False
        for _attempt in range(PICK_ATTEMPTS):
            sale = store.sales[rng.randrange(eligible)]
            if not (sale.voided or sale.returned):
                break
        else:
            return False
        sale.returned = True
        index = rng.randrange(len(sale.units))
        sku, sold_quantity = sale.units[index]
        quantity = rng.randint(1, sold_quantity)
        sold = _read_back(sale)
        sold_line = sold["lines"][index]
        discount = self.purse.round(Decimal(sold_line["discount"]) * quantity / sold_quantity)
        unit_price = Decimal(sold_line["unit_price"])
        line = {
            **sold_line,
            "qty": quantity,
            "discount": self.purse.text(discount),
            "original_receipt_no": sold["receipt_no"],
        }
        book = self.floor.book
        book.on_hand[book.slot(sku, store.location)] += quantity
        total = self.purse.text(unit_price * quantity - discount)
        register = rng.randint(1, store.registers)
        self._post(now, store, "RETURN", register, sale.tender, [line], total)
        return True

    def _post(
        self,
        now: int,
        store: Store,
        kind: str,
        register: int,
        tender: str,
        lines: list[dict[str, Any]],
        total: str,
        voids: int | None = None,
    ) -> Draft:
        """Ring up a receipt of `kind` at the store's next number; returns its message."""
        receipt_no = store.next_receipt_no
        store.next_receipt_no += 1
        voided = {} if voids is None else {"voids_receipt_no": voids}
        body: dict[str, Any] = {
            "type": kind,
            "store_id": store.code,
            "register": register,
            "receipt_no": receipt_no,
            "ts": iso_store(now),
            "currency": self.purse.currency,
            **voided,
            "lines": lines,
            "total": total,
            "tender": tender,
        }
        key = f"{store.code}:{receipt_no}"
        message = self.floor.outbox.post(POS_ORDERS, key, body, now, kind)
        store.receipts.append(message)
        return message


def _read_back(receipt: Receipt) -> dict[str, Any]:
    """The sale as its till sent it; read back rather than kept, as few are returned or voided."""
    sale: dict[str, Any] = json.loads(receipt.message.value)
    return sale
