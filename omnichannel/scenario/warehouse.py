"""The stock feed from warehouses and stores: opening stock, replenishment, transfers, shrinkage.

At midnight every SKU has its opening stock at every location (a count, or a receipt for a
position just stocked). During the day a position that falls to its reorder point is
replenished, by a supplier receipt or by a transfer from a location in the same country with
stock to spare (a TRANSFER_OUT, then its TRANSFER_IN hours later). Spot movements come on top:
damaged goods, signed adjustments and cycle counts, which set the book to what is on the shelf.
"""

from __future__ import annotations

import math

from omnichannel.reference import ReferenceData
from omnichannel.scenario.basket import Spread
from omnichannel.scenario.clock import HOUR_MS, MINUTE_MS, SECOND_MS, iso_utc
from omnichannel.scenario.floor import Floor
from omnichannel.scenario.plan import DayPlan
from omnichannel.scenario.records import MOVEMENTS

OPENING_COUNT_SHARE = 0.85
TRANSFER_SHARE = 0.5
OPENING_COVER = (0.3, 1.3)  # opening stock in days of expected sales: some positions run low
REORDER_POINT_DAYS = 0.15
ORDER_UP_TO_DAYS = 0.6
SPOT_KINDS = ("COUNT", "ADJUSTMENT", "DAMAGE")
SPOT_KIND_WEIGHTS = (40, 30, 30)
COUNT_DISCREPANCY = Spread((-2, -1, 0, 1), (8, 12, 75, 5))
ADJUSTMENT_UNITS = Spread((-3, -2, -1, 1, 2, 3), (10, 20, 25, 25, 12, 8))
DAMAGED_UNITS = Spread((1, 2), (85, 15))
FLAT_DAY = (1.0,) * 24
REPLENISHMENT_EVERY_MS = 15 * MINUTE_MS


class Warehouse:
    """Posts every stock movement of the day and keeps the locations replenished."""

    def __init__(self, floor: Floor, reference: ReferenceData) -> None:
        self.floor = floor
        self.rng = floor.rng("warehouse")
        locations = floor.book.locations
        country = [reference.locations[code].region.split("-")[0] for code in locations]
        self.peers = [
            [j for j in range(len(locations)) if j != i and country[j] == country[i]]
            for i in range(len(locations))
        ]
        self._document = self.rng.randrange(1_000, 9_000)
        self._reference = self.rng.randrange(10_000, 90_000)

    def stock_up(self, plan: DayPlan) -> None:
        """Set each position's replenishment policy from expected sales; post opening stock."""
        rng, book, shares = self.rng, self.floor.book, self.floor.assortment.shares
        start = self.floor.day.start_ms
        for location, units in enumerate(plan.units_per_location):
            document = self._next_document()
            for sku, share in enumerate(shares):
                demand = share * units
                slot = book.slot(sku, location)
                book.reorder_point[slot] = max(2, math.ceil(demand * REORDER_POINT_DAYS))
                book.order_up_to[slot] = max(
                    book.reorder_point[slot] + 4, math.ceil(demand * ORDER_UP_TO_DAYS)
                )
                opening = math.ceil(demand * rng.uniform(*OPENING_COVER)) + rng.randint(1, 6)
                book.on_hand[slot] = opening
                kind = "COUNT" if rng.random() < OPENING_COUNT_SHARE else "RECEIPT"
                reference = f"OPENING-{self.floor.day.day.isoformat()}"
                self._post(start, f"{document}-{sku + 1:03d}", kind, slot, opening, reference)

    def open_replenishment_runs(self) -> None:
        """Run replenishment every quarter of an hour, as a retailer's planning job does."""
        day = self.floor.day
        runs = list(
            range(day.start_ms + REPLENISHMENT_EVERY_MS, day.end_ms, REPLENISHMENT_EVERY_MS)
        )
        self.floor.timeline.at_each(runs, self._replenishment_run, None)

    def _replenishment_run(self, now: int, _: None) -> None:
        book = self.floor.book
        drawn, book.drawn = book.drawn, []
        for slot in dict.fromkeys(drawn):
            position = book.on_hand[slot] - book.reserved[slot] + book.on_order[slot]
            if position <= book.reorder_point[slot]:
                self._replenish(slot, now, book.order_up_to[slot] - position)

    def _replenish(self, slot: int, now: int, shortfall: int) -> None:
        """Order `shortfall` units for a position that fell to its reorder point."""
        book, rng = self.floor.book, self.rng
        book.on_order[slot] += shortfall
        self._reference += 1
        source = self._peer_with_surplus(slot, shortfall) if rng.random() < TRANSFER_SHARE else None
        if source is None:
            self.floor.timeline.at(
                now + rng.randrange(90 * MINUTE_MS, 6 * HOUR_MS),
                self._receive,
                (slot, shortfall, f"PO-{self._reference}"),
            )
        else:
            self.floor.timeline.at(
                now + rng.randrange(20 * MINUTE_MS, 90 * MINUTE_MS),
                self._send_transfer,
                (source, slot, shortfall, f"TR-{self._reference}"),
            )

    def open_spot_checks(self, count: int) -> None:
        """Spread damage, adjustments and cycle counts over the day.

        Each happens at the very start of its second, before anything else of that second:
        timestamps are written to the second, so whatever carries the same second as a count
        happened after it, and is not inside its quantity.
        """
        arrivals = self.floor.day.arrivals(self.rng, FLAT_DAY, count)
        whole_seconds = [when_ms - when_ms % SECOND_MS for when_ms in arrivals]
        self.floor.timeline.at_each(whole_seconds, self._spot_movement, None)

    def _peer_with_surplus(self, slot: int, units: int) -> int | None:
        book = self.floor.book
        sku, location = divmod(slot, len(book.locations))
        peers = self.peers[location]
        for peer in self.rng.sample(peers, len(peers)):
            peer_slot = book.slot(sku, peer)
            if book.available(peer_slot) - units >= book.order_up_to[peer_slot]:
                return peer_slot
        return None

    def _receive(self, now: int, subject: tuple[int, int, str]) -> None:
        slot, units, reference = subject
        book = self.floor.book
        book.on_hand[slot] += units
        book.on_order[slot] -= units
        self._post(now, f"{self._next_document()}-001", "RECEIPT", slot, units, reference)

    def _send_transfer(self, now: int, subject: tuple[int, int, int, str]) -> None:
        source, destination, units, reference = subject
        book = self.floor.book
        if book.available(source) < units:
            # The surplus sold meanwhile: the transfer is called off; the next sale reorders.
            book.on_order[destination] -= units
            return
        book.on_hand[source] -= units
        self._post(now, f"{self._next_document()}-001", "TRANSFER_OUT", source, units, reference)
        book.drawn.append(source)
        arrival = now + self.rng.randrange(HOUR_MS, 4 * HOUR_MS)
        self.floor.timeline.at(arrival, self._receive_transfer, (destination, units, reference))

    def _receive_transfer(self, now: int, subject: tuple[int, int, str]) -> None:
        slot, units, reference = subject
        book = self.floor.book
        book.on_hand[slot] += units
        book.on_order[slot] -= units
        self._post(now, f"{self._next_document()}-001", "TRANSFER_IN", slot, units, reference)

    def _spot_movement(self, now: int, _: None) -> None:
        rng, book = self.rng, self.floor.book
        sku = self.floor.assortment.pick(rng)
        slot = book.slot(sku, rng.randrange(len(book.locations)))
        kind = rng.choices(SPOT_KINDS, SPOT_KIND_WEIGHTS)[0]
        self._reference += 1
        document = f"{self._next_document()}-001"
        if kind == "DAMAGE" and book.on_hand[slot] >= (units := DAMAGED_UNITS.draw(rng)):
            book.on_hand[slot] -= units
            self._post(now, document, "DAMAGE", slot, units, f"DMG-{self._reference}")
        elif kind == "ADJUSTMENT":
            units = ADJUSTMENT_UNITS.draw(rng)
            if book.on_hand[slot] + units < 0:
                units = -units
            book.on_hand[slot] += units
            self._post(now, document, "ADJUSTMENT", slot, units, f"ADJ-{self._reference}")
        else:
            counted = max(0, book.on_hand[slot] + COUNT_DISCREPANCY.draw(rng))
            book.on_hand[slot] = counted
            self._post(now, document, "COUNT", slot, counted, f"CC-{self._reference}")
        book.drawn.append(slot)

    def _next_document(self) -> int:
        self._document += 1
        return self._document

    def _post(
        self, now: int, document: str, kind: str, slot: int, units: int, reference: str
    ) -> None:
        book = self.floor.book
        sku, location = divmod(slot, len(book.locations))
        sku_code = self.floor.assortment.skus[sku]
        body = {
            "movement_id": f"WMS-{document}",
            "type": kind,
            "sku": sku_code,
            "location": book.locations[location],
            "quantity": units,
            "ts": iso_utc(now),
            "reference": reference,
        }
        self.floor.outbox.post(MOVEMENTS, sku_code, body, now, kind)
