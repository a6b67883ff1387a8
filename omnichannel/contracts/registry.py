"""Every contract the project publishes or consumes, by its Avro record name."""

from __future__ import annotations

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Contract
from omnichannel.contracts.exception_audit import ExceptionAudit
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.contracts.settlement import Settlement

CONTRACTS: dict[str, type[Contract]] = {
    model.__name__: model
    for model in (
        OrderEvent,
        InventoryMovement,
        Settlement,
        AvailabilityUpdate,
        JournalEntry,
        Anomaly,
        ExceptionRecord,
        ReconciliationSummary,
        ExceptionAudit,
    )
}
