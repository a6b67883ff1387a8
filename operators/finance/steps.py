"""The finance steps as one composite operator, shared by the Kafka and the replay flows."""

from __future__ import annotations

from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.contracts.settlement import Settlement
from omnichannel.metrics import counting_batch_keys, counting_keys
from omnichannel.pickling import exchanged_as_avro
from operators.finance.ledger import FinanceSettings
from operators.finance.logic import OrderLedgerLogic, ReconciliationLogic
from operators.finance.reconciliation import Measure
from operators.finance.settlements import SettlementOnceLogic, settlement_key
from operators.streams import keyed, only, stateful_batches, unkeyed
from operators.watermark import Watermark


@dataclass(frozen=True)
class FinanceOut:
    """What the finance steps publish."""

    entries: Stream[JournalEntry]
    anomalies: Stream[Anomaly]
    exceptions: Stream[ExceptionRecord]
    summaries: Stream[ReconciliationSummary]


@operator
def finance(
    step_id: str,
    orders: Stream[OrderEvent],
    settlements: Stream[Settlement],
    settings: FinanceSettings,
    watermark: Watermark | None = None,
    snapshots: bool = True,
) -> FinanceOut:
    """Balanced journal entries, duplicates and ordering anomalies from orders and settlements.

    `watermark` measures the grace; on Kafka it learns where each source partition ends
    (`omnichannel.partition_ends`); without one, every source partition seen holds it back.
    `snapshots=False` for a flow run without recovery: the state is not copied for snapshots.
    """
    watermark = watermark or Watermark()
    # What crosses to another process whole goes as its Avro bytes (`omnichannel.pickling`).
    exchanged_as_avro(OrderEvent, Settlement)
    # One order's events, in their order of arrival, through its ledger.
    by_order = keyed("key_by_order", orders, lambda event: event.correlation_id)
    posted = stateful_batches(
        "order_ledger",
        by_order,
        counting_batch_keys(
            "finance",
            "order_ledger",
            lambda state: OrderLedgerLogic(state, settings, watermark),
            snapshots,
        ),
    )
    from_orders = unkeyed("drop_order_key", posted)
    # A settlement is posted once per settlement id (its rows were checked to sum to the
    # deposit); the same report delivered again is reported, not paid out twice.
    by_settlement = keyed("key_by_settlement", settlements, settlement_key)
    settled = op.stateful(
        "settlement_once",
        by_settlement,
        counting_keys(
            "finance",
            "settlement_once",
            lambda state: SettlementOnceLogic(state, settings),
            snapshots,
        ),
    )
    from_settlements = unkeyed("drop_settlement_key", settled)
    results = op.merge("all_results", from_orders, from_settlements)
    entries = only("entries", results, JournalEntry)
    anomalies = only("anomalies", results, Anomaly)
    refused = only("exceptions", results, ExceptionRecord)
    # Hourly reconciliation per channel and currency, from what the ledgers measured.
    measures = only("measures", results, Measure)
    by_channel = keyed("key_by_channel", measures, lambda m: f"{m.channel}:{m.currency}")
    windows = stateful_batches(
        "reconciliation",
        by_channel,
        counting_batch_keys(
            "finance",
            "reconciliation",
            lambda state: ReconciliationLogic(state, settings.grace),
            snapshots,
        ),
    )
    summaries = unkeyed("drop_channel_key", windows)
    return FinanceOut(entries, anomalies, refused, summaries)
