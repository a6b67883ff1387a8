"""End-of-day settlement reports: what the marketplace pays out for the orders it shipped today.

Each shipped item becomes an `Order` row (principal, tax, a negative commission of 15 %, and no
FBA fee, since every order is merchant-fulfilled); the seller's subscription and advertising
charges are `ServiceFee` rows. `deposit` is the exact sum of every amount in the rows.

A day's rows go out as one report, as a marketplace issues them, unless it would be larger than
the settlement topic's payload limit in reference data or than a Kafka producer of default
settings sends (librdkafka's `message.max.bytes`, 1,000,000 bytes: about 7,000 rows): a busier
day's rows are split over several reports of the same marketplace, each balanced on its own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omnichannel.scenario.clock import MINUTE_MS, SECOND_MS, iso_utc
from omnichannel.scenario.floor import Floor
from omnichannel.scenario.marketplace import US_MARKETPLACE, MarketplaceOrder
from omnichannel.scenario.money import ZERO
from omnichannel.scenario.records import MARKETPLACE_SETTLEMENTS, Draft, encode_json

COMMISSION_RATE = Decimal("0.15")
SUBSCRIPTION_FEE = Decimal("-39.99")
ISSUED_AFTER_MS = 15 * MINUTE_MS
# Room left for everything but the rows: the report's other fields, the key and Kafka's
# record overhead, and, for a report refused whole, the exception record around its bytes.
ENVELOPE_BYTES = 4096
# The largest record a producer of librdkafka's default settings sends: the generator's days
# go to Kafka as they are (`produce_to_kafka`), and the broker's default is a little larger.
PRODUCER_MESSAGE_BYTES = 1_000_000


def settle(floor: Floor, orders: list[MarketplaceOrder], max_payload_bytes: int) -> list[Draft]:
    """Post the day's settlement reports for the shipped orders; returns their drafts.

    `max_payload_bytes` is the settlement topic's limit: no report is larger.
    """
    rng = floor.rng("settlement")
    purse = floor.purses["USD"]
    skus = floor.assortment.skus
    advertising = -purse.from_minor(rng.randrange(5_000, 60_000))
    rows: list[tuple[dict[str, Any], Decimal]] = [
        (_service_fee("Subscription", purse.text(SUBSCRIPTION_FEE)), SUBSCRIPTION_FEE),
        (_service_fee("Sponsored Products charges", purse.text(advertising)), advertising),
    ]
    for order in orders:
        if not order.shipped:
            continue
        for item in order.items:
            commission = -purse.round(item.price * COMMISSION_RATE)
            row = {
                "order_id": order.order_id,
                "type": "Order",
                "sku": skus[item.sku],
                "principal": purse.text(item.price),
                "tax": purse.text(item.tax),
                "commission": purse.text(commission),
                "fba_fee": purse.text(ZERO),
            }
            rows.append((row, item.price + item.tax + commission))
    issued = floor.day.end_ms + ISSUED_AFTER_MS
    settlement_base = rng.randrange(10**10, 9 * 10**10)
    drafts = []
    budget = min(max_payload_bytes, PRODUCER_MESSAGE_BYTES) - ENVELOPE_BYTES
    for number, report_rows in enumerate(_split(rows, budget)):
        settlement_id = str(settlement_base + number)
        body = {
            "settlement_id": settlement_id,
            "marketplace": US_MARKETPLACE,
            "start": iso_utc(floor.day.start_ms),
            "end": iso_utc(floor.day.end_ms),
            "currency": purse.currency,
            "deposit": purse.text(sum((amount for _, amount in report_rows), ZERO)),
            "rows": [row for row, _ in report_rows],
        }
        when = issued + number * SECOND_MS
        drafts.append(
            floor.outbox.post(MARKETPLACE_SETTLEMENTS, settlement_id, body, when, "report")
        )
    return drafts


def _service_fee(description: str, amount: str) -> dict[str, Any]:
    return {"order_id": None, "type": "ServiceFee", "description": description, "amount": amount}


def _split(
    rows: list[tuple[dict[str, Any], Decimal]], budget: int
) -> list[list[tuple[dict[str, Any], Decimal]]]:
    """Cut the rows into reports whose rows take at most `budget` bytes each."""
    reports: list[list[tuple[dict[str, Any], Decimal]]] = [[]]
    used = 0
    for row in rows:
        size = len(encode_json(row[0])) + 1
        if reports[-1] and used + size > budget:
            reports.append([])
            used = 0
        reports[-1].append(row)
        used += size
    return reports
