"""Where each canonical event or exception goes, and under which key."""

from __future__ import annotations

from dataclasses import dataclass

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Contract
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.contracts.settlement import Settlement
from omnichannel.topics import Topics


@dataclass(frozen=True, slots=True)
class Routed:
    """A contract record with its topic and key, ready to be encoded."""

    topic: str
    key: str
    record: Contract


def route_normalized(
    result: OrderEvent | InventoryMovement | Settlement | ExceptionRecord, topics: Topics
) -> Routed:
    """Order events by order (its lifecycle stays in order), stock by SKU, the rest by id."""
    match result:
        case OrderEvent():
            return Routed(topics.canonical_orders, result.correlation_id, result)
        case InventoryMovement():
            return Routed(topics.canonical_movements, result.sku, result)
        case Settlement():
            return Routed(topics.canonical_settlements, result.settlement_id, result)
        case ExceptionRecord():
            return route_exception(result, topics)


def route_availability(update: AvailabilityUpdate, topics: Topics) -> Routed:
    """To the channel's topic, keyed by SKU (and location where the channel sells per store)."""
    key = update.sku if update.location is None else f"{update.sku}:{update.location}"
    return Routed(topics.availability(update.channel), key, update)


def route_anomaly(anomaly: Anomaly, topics: Topics) -> Routed:
    return Routed(topics.anomalies, anomaly.entity_id, anomaly)


def route_exception(record: ExceptionRecord, topics: Topics) -> Routed:
    return Routed(topics.exceptions, record.exception_id, record)


def route_posting(entry: JournalEntry, topics: Topics) -> Routed:
    """To the ERP, keyed by idempotency key: a re-sent entry lands where its first copy did."""
    return Routed(topics.postings, entry.idempotency_key, entry)


def route_summary(summary: ReconciliationSummary, topics: Topics) -> Routed:
    """To finance, keyed by channel and hour: every revision of a window on one partition."""
    key = f"{summary.channel}:{summary.currency}:{summary.window_start.isoformat()}"
    return Routed(topics.reconciliation, key, summary)
