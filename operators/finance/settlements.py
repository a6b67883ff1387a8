"""Marketplace settlements posted once: a report delivered again is not paid out twice.

A settlement report can arrive more than once: the marketplace retries its delivery, or
normalization (at-least-once) publishes it again after a crash. Keyed by marketplace and
settlement id, the first report is posted; the same report again is a `duplicate_event`
anomaly; a report under the same id with different content goes to the exception topic as a
`conflicting_resubmission`, for finance to look at, never posted on a guess. A settlement id
is remembered for the dedupe horizon (wall clock) after its last delivery.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bytewax.operators import StatefulLogic

from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.common import Channel
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.settlement import Settlement
from operators.finance.ledger import FinanceOutput, FinanceSettings
from operators.finance.postings import settlement_entry


def settlement_key(settlement: Settlement) -> str:
    return f"{settlement.marketplace}:{settlement.settlement_id}"


def settlement_digest(settlement: Settlement) -> str:
    """What the report says, leaving out where it was read."""
    content = settlement.model_dump(mode="json", exclude={"source"})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Settled:
    digest: str
    last_seen: datetime


def settle(
    settlement: Settlement, known: Settled | None, settings: FinanceSettings, now: datetime
) -> tuple[list[FinanceOutput], Settled]:
    """Post a new report; report a repeated one; refuse one that contradicts the first."""
    digest = settlement_digest(settlement)
    if known is None:
        return [settlement_entry(settlement, settings.reference)], Settled(digest, now)
    remembered = Settled(known.digest, now)
    if digest == known.digest:
        return [_duplicate(settlement, now)], remembered
    return [_conflict(settlement, now)], remembered


class SettlementOnceLogic(StatefulLogic[Settlement, FinanceOutput, bytes]):
    """One settlement id's memory: whether it was posted, and what it said."""

    def __init__(self, snapshot: bytes | None, settings: FinanceSettings) -> None:
        self.settled: Settled | None = pickle.loads(snapshot) if snapshot else None
        self._settings = settings

    def on_item(self, value: Settlement) -> tuple[Iterable[FinanceOutput], bool]:
        outputs, self.settled = settle(value, self.settled, self._settings, datetime.now(UTC))
        return outputs, StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[FinanceOutput], bool]:
        return (), StatefulLogic.DISCARD

    def notify_at(self) -> datetime | None:
        if self.settled is None:
            return None
        return self.settled.last_seen + self._settings.dedupe_horizon

    def snapshot(self) -> bytes:
        return pickle.dumps(self.settled, protocol=pickle.HIGHEST_PROTOCOL)


def _where(settlement: Settlement) -> str:
    source = settlement.source
    return f"{source.topic}:{source.partition}:{source.offset}"


def _duplicate(settlement: Settlement, now: datetime) -> Anomaly:
    return Anomaly(
        anomaly_id=f"{AnomalyType.DUPLICATE_EVENT.value}:{_where(settlement)}",
        anomaly_type=AnomalyType.DUPLICATE_EVENT,
        entity_id=settlement_key(settlement),
        channel=Channel.MARKETPLACE,
        event_time=settlement.period_end,
        detected_at=now,
        message=f"settlement {settlement.settlement_id} of {settlement.marketplace}: "
        "delivered again, already posted",
        details={"resolution": "re-delivered", "source": _where(settlement)},
        correlation_id=settlement.correlation_id,
    )


def _conflict(settlement: Settlement, now: datetime) -> ExceptionRecord:
    return ExceptionRecord(
        exception_id=f"finance:{_where(settlement)}",
        reason=ExceptionReason.CONFLICTING_RESUBMISSION,
        message=f"settlement {settlement.settlement_id} of {settlement.marketplace} delivered "
        "again with different content; the first was posted",
        raw_key=settlement_key(settlement).encode(),
        raw_value=settlement.model_dump_json().encode(),
        source=settlement.source,
        step="finance",
        detected_at=now,
    )
