"""Faults of a real trading day, injected into a clean one at the configured rates.

Replay faults change when a message arrives, not what it says, and normalization must still
turn each into one canonical event: a web webhook delivered twice, a POS receipt re-sent from a
register's backlog after newer receipts, a marketplace status arriving after a newer one, a web
refund arriving before the fulfilment of its order, a stock movement held up in the WMS's
outbox until after a later cycle count of its position (which already includes it: the
availability flow reports it as `movement_absorbed`). Content faults change what a message says
so that normalization must refuse it into the exception topic with a reason: an unmapped tax
code, an unknown SKU (or EAN), an unbalanced settlement, a payload that is not JSON.

A record takes part in at most one fault, so each fault's expected outcome stays exact. Replay
faults are drawn first, from clean records; content faults then from the records left.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from itertools import chain
from random import Random
from typing import Any, TypeVar

from omnichannel.reference import ReferenceData, ean_check_digit
from omnichannel.scenario.clock import MINUTE_MS, SECOND_MS
from omnichannel.scenario.config import FaultRates
from omnichannel.scenario.day import DayLog
from omnichannel.scenario.money import Purse
from omnichannel.scenario.records import (
    INPUT_TOPICS,
    MARKETPLACE_ORDERS,
    MOVEMENTS,
    POS_ORDERS,
    WEB_ORDERS,
    Draft,
    encode_json,
)

REPLAY_FAULTS = (
    "duplicate_webhook",
    "pos_backlog_resend",
    "late_marketplace_status",
    "refund_before_fulfilment",
    "late_stock_movement",
)
CONTENT_FAULTS = ("unknown_sku", "unmapped_tax_code", "settlement_unbalanced", "malformed_json")
EXCEPTION_REASON = {
    "unmapped_tax_code": "unknown_tax_code",
    "settlement_unbalanced": "settlement_unbalanced",
    "malformed_json": "malformed_json",
}
WEB_ORDER_BODIES = ("orders/create", "orders/cancelled")
# The renamed titles and stale codes channels really send once a tax table drifts.
STALE_TAX_CODES = {"DE-19": "DE-16", "DE-7": "DE-5", "A_GEN_TAX": "A_BOOKS_GEN"}
MAX_RESEND_BACKLOG = 8

T = TypeVar("T")


def how_many(rate: float, applicable: int) -> int:
    """Faults to inject: the rate's share of the applicable records, rounded.

    A small day still shows each configured fault once, but a fault whose share rounds to
    none never takes the only record it could apply to (a day's one settlement report).
    """
    if rate <= 0:
        return 0
    wanted = round(rate * applicable)
    if wanted == 0 and applicable > 1:
        wanted = 1
    return min(applicable, wanted)


class FaultInjector:
    """Draws each fault's victims from the day's clean records and alters or re-times them."""

    def __init__(self, log: DayLog, reference: ReferenceData, seed: int) -> None:
        self.log = log
        self.reference = reference
        self.seed = seed
        self.by_topic: dict[str, list[Draft]] = {}
        for draft in log.outbox.drafts:
            self.by_topic.setdefault(draft.topic, []).append(draft)

    def inject(self, rates: FaultRates) -> None:
        wanted = rates.as_dict()
        for name in (*REPLAY_FAULTS, *CONTENT_FAULTS):
            if wanted[name] > 0:
                getattr(self, f"_{name}")(Random(f"{self.seed}:fault:{name}"), wanted[name])

    def _drafts(self, *topics: str) -> list[Draft]:
        """The day's clean drafts of these topics, not yet part of a fault."""
        return [d for t in topics for d in self.by_topic.get(t, ()) if not d.involved]

    def _duplicate_webhook(self, rng: Random, rate: float) -> None:
        webhooks = self._drafts(WEB_ORDERS)
        for original in _draw(rng, webhooks, rate, lambda d: not d.involved):
            redelivered = original.deliver_ms + rng.randrange(5 * SECOND_MS, 30 * MINUTE_MS)
            self.log.outbox.post_again(original, redelivered, "duplicate_webhook")

    def _pos_backlog_resend(self, rng: Random, rate: float) -> None:
        backlog = [
            (receipts, i)
            for receipts in self.log.store_receipts
            for i in range(len(receipts) - 1)
            if not receipts[i].involved
        ]
        for receipts, i in _draw(rng, backlog, rate, lambda r: not r[0][r[1]].involved):
            newer = receipts[i + rng.randint(1, min(MAX_RESEND_BACKLOG, len(receipts) - 1 - i))]
            resent = newer.deliver_ms + rng.randrange(SECOND_MS, 2 * MINUTE_MS)
            self.log.outbox.post_again(receipts[i], resent, "pos_backlog_resend")
            newer.involved = True

    def _late_marketplace_status(self, rng: Random, rate: float) -> None:
        changes = [
            (order.statuses[j], order.statuses[j + 1])
            for order in self.log.marketplace_orders
            for j in range(len(order.statuses) - 1)
        ]
        clean = [pair for pair in changes if not (pair[0].involved or pair[1].involved)]
        for older, newer in _draw(rng, clean, rate, lambda p: not (p[0].involved or p[1].involved)):
            older.deliver_ms = newer.deliver_ms + rng.randrange(SECOND_MS, 15 * MINUTE_MS)
            _mark(older, "late_marketplace_status", newer)

    def _refund_before_fulfilment(self, rng: Random, rate: float) -> None:
        refunded = [
            (order.refund, order.fulfilment)
            for order in self.log.web_orders
            if order.refund is not None
            and order.fulfilment is not None
            and not (order.refund.involved or order.fulfilment.involved)
        ]
        for refund, fulfilment in _draw(rng, refunded, rate, lambda p: not p[0].involved):
            # The warehouse's confirmation is held up; the refund overtakes it.
            fulfilment.deliver_ms = refund.deliver_ms + rng.randrange(SECOND_MS, 10 * MINUTE_MS)
            _mark(refund, "refund_before_fulfilment", fulfilment)

    def _late_stock_movement(self, rng: Random, rate: float) -> None:
        """A movement held up in the WMS's outbox, delivered after a later count of its spot."""
        counts: dict[tuple[str, str], list[Draft]] = {}
        changes: list[tuple[Draft, tuple[str, str]]] = []
        for draft in self._drafts(MOVEMENTS):
            body = json.loads(draft.value)
            position = (body["sku"], body["location"])
            if draft.kind == "COUNT":
                counts.setdefault(position, []).append(draft)
            else:
                changes.append((draft, position))
        late = []
        for change, position in changes:
            # The next count of its position in a later second: one that has it on the shelf.
            second = change.event_ms // SECOND_MS
            later = (c for c in counts.get(position, ()) if c.event_ms // SECOND_MS > second)
            count = next(later, None)
            if count is not None:
                late.append((change, count))
        for change, count in _draw(rng, late, rate, lambda p: not (p[0].involved or p[1].involved)):
            change.deliver_ms = count.deliver_ms + rng.randrange(SECOND_MS, 10 * MINUTE_MS)
            _mark(change, "late_stock_movement", count)

    def _unknown_sku(self, rng: Random, rate: float) -> None:
        carriers = self._drafts(WEB_ORDERS, POS_ORDERS, MARKETPLACE_ORDERS)
        for draft in _draw(rng, carriers, rate, lambda d: not d.involved):
            payload = json.loads(draft.value)
            if draft.topic == WEB_ORDERS:
                field = "refund_line_items" if draft.kind == "refunds/create" else "line_items"
                _pick(rng, payload[field])["sku"] = self._unknown_sku_code(rng)
                reason = "unknown_sku"
            elif draft.topic == MARKETPLACE_ORDERS:
                _pick(rng, payload["OrderItems"])["SellerSKU"] = self._unknown_sku_code(rng)
                reason = "unknown_sku"
            else:
                _pick(rng, payload["lines"])["ean"] = self._unknown_ean(rng)
                reason = "unknown_ean"
            _alter(draft, payload, "unknown_sku", reason)

    def _unmapped_tax_code(self, rng: Random, rate: float) -> None:
        web_orders = [d for d in self._drafts(WEB_ORDERS) if d.kind in WEB_ORDER_BODIES]
        carriers = web_orders + self._drafts(POS_ORDERS, MARKETPLACE_ORDERS)
        for draft in _draw(rng, carriers, rate, lambda d: not d.involved):
            payload = json.loads(draft.value)
            if draft.topic == WEB_ORDERS:
                # The shop's admin renamed the tax: every line now carries the new title.
                for line in payload["line_items"]:
                    for tax_line in line["tax_lines"]:
                        tax_line["title"] = self._unmapped(self._renamed(tax_line["title"]))
            elif draft.topic == MARKETPLACE_ORDERS:
                item = _pick(rng, payload["OrderItems"])
                item["TaxCode"] = self._unmapped(STALE_TAX_CODES[item["TaxCode"]])
            else:
                line = _pick(rng, payload["lines"])
                line["tax_code"] = self._unmapped(STALE_TAX_CODES[line["tax_code"]])
            _alter(draft, payload, "unmapped_tax_code", "unknown_tax_code")

    def _settlement_unbalanced(self, rng: Random, rate: float) -> None:
        reports = [d for d in self.log.settlements if not d.involved]
        for draft in _draw(rng, reports, rate, lambda d: not d.involved):
            payload = json.loads(draft.value)
            purse = Purse(payload["currency"], self.reference.currencies[payload["currency"]])
            shift = purse.from_minor(rng.choice((-1, 1)) * rng.randrange(1, 5_000))
            payload["deposit"] = purse.text(Decimal(payload["deposit"]) + shift)
            _alter(draft, payload, "settlement_unbalanced", "settlement_unbalanced")

    def _malformed_json(self, rng: Random, rate: float) -> None:
        candidates = self._drafts(*INPUT_TOPICS)
        for draft in _draw(rng, candidates, rate, lambda d: not d.involved):
            draft.value = _garble(rng, draft.value)
            _mark(draft, "malformed_json", None)
            draft.expected = "exception:malformed_json"

    def _unknown_sku_code(self, rng: Random) -> str:
        catalog = self.reference.catalog
        while True:
            number = catalog.first + catalog.count + rng.randrange(1, 10 * catalog.count + 1_000)
            code = catalog.generated_sku(number)
            if not self.reference.is_known_sku(code):
                return code

    def _unknown_ean(self, rng: Random) -> str:
        while True:
            body = f"400{rng.randrange(10**9):09d}"
            ean = body + ean_check_digit(body)
            if self.reference.sku_for_ean(ean) is None:
                return ean

    def _renamed(self, title: str) -> str:
        return f"{title.rpartition('-')[2]} State Tax"

    def _unmapped(self, code: str) -> str:
        return code if code not in self.reference.tax_codes else f"{code}-UNMAPPED"


def _draw(
    rng: Random, pool: Sequence[T], rate: float, still_clean: Callable[[T], bool]
) -> Iterator[T]:
    """The victims of one fault, drawn at random from the pool.

    Lazily, so that a victim the caller has just altered is not drawn again through another
    candidate that shares a record with it. Most of a pool is clean, so a few more positions
    than wanted are drawn first; the rest of the pool, shuffled, only when they fall short.
    """
    wanted = how_many(rate, len(pool))
    if not wanted:
        return
    first = rng.sample(range(len(pool)), min(len(pool), 2 * wanted + 16))
    for position in chain(first, _the_rest(rng, len(pool), set(first))):
        candidate = pool[position]
        if still_clean(candidate):
            yield candidate
            wanted -= 1
            if not wanted:
                return


def _the_rest(rng: Random, size: int, drawn: set[int]) -> Iterator[int]:
    """The positions not drawn yet, in random order; shuffled only once the first is asked for."""
    rest = [position for position in range(size) if position not in drawn]
    rng.shuffle(rest)
    yield from rest


def _pick(rng: Random, items: list[dict[str, Any]]) -> dict[str, Any]:
    return items[rng.randrange(len(items))]


def _mark(draft: Draft, fault: str, related: Draft | None) -> None:
    draft.fault = fault
    draft.related = related
    draft.involved = True
    if related is not None:
        related.involved = True


def _alter(draft: Draft, payload: dict[str, Any], fault: str, reason: str) -> None:
    draft.value = encode_json(payload).encode()
    _mark(draft, fault, None)
    draft.expected = f"exception:{reason}"


def _garble(rng: Random, value: bytes) -> bytes:
    """The payload cut short in transit, or with a register's NUL padding spliced into it."""
    cut = rng.randrange(len(value) // 5, len(value) * 9 // 10)
    if rng.random() < 0.3:
        garbled = value[:cut] + b"\x00" * rng.randint(1, 8) + value[cut:]
        try:
            json.loads(garbled)
        except ValueError:
            return garbled
    return value[:cut]
