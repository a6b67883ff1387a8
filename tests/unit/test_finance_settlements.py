"""Settlements are posted once per settlement id, whatever delivers them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.journal import JournalEntry
from operators.finance.ledger import FinanceSettings
from operators.finance.settlements import SettlementOnceLogic, settle
from tests.unit.availability_events import REFERENCE
from tests.unit.contract_examples import MARKETPLACE_SETTLEMENT

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
SETTINGS = FinanceSettings(REFERENCE)


def test_first_report_is_posted_a_repeat_reported_a_contradiction_refused() -> None:
    posted, known = settle(MARKETPLACE_SETTLEMENT, None, SETTINGS, NOW)
    assert [type(output) for output in posted] == [JournalEntry]

    moved = MARKETPLACE_SETTLEMENT.source.model_copy(update={"offset": 99})
    again = MARKETPLACE_SETTLEMENT.model_copy(update={"source": moved})
    repeated, known = settle(again, known, SETTINGS, NOW + timedelta(hours=1))
    assert len(repeated) == 1
    assert isinstance(repeated[0], Anomaly)
    assert repeated[0].anomaly_type is AnomalyType.DUPLICATE_EVENT
    assert known.last_seen == NOW + timedelta(hours=1)

    changed = again.model_copy(update={"deposit": again.deposit + Decimal("0.01")})
    (refused,) = settle(changed, known, SETTINGS, NOW)[0]
    assert isinstance(refused, ExceptionRecord)
    assert refused.reason is ExceptionReason.CONFLICTING_RESUBMISSION


def test_the_memory_survives_a_snapshot_and_ends_after_the_horizon() -> None:
    logic = SettlementOnceLogic(None, SETTINGS)
    assert logic.notify_at() is None
    first, _ = logic.on_item(MARKETPLACE_SETTLEMENT)
    assert [type(output) for output in first] == [JournalEntry]

    resumed = SettlementOnceLogic(logic.snapshot(), SETTINGS)
    again, _ = resumed.on_item(MARKETPLACE_SETTLEMENT)
    assert [type(output) for output in again] == [Anomaly]
    assert resumed.settled is not None
    assert resumed.notify_at() == resumed.settled.last_seen + SETTINGS.dedupe_horizon
    assert resumed.on_notify() == ((), True)
