"""Raw input records and the refusals an adapter can raise on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from omnichannel.contracts.common import SourceCoordinates, trusted
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record exactly as read: bytes and the coordinates to find it again."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int | None = None
    replay_count: int = 0

    def coordinates(self) -> SourceCoordinates:
        # Every value is of its field's type already (an aware UTC datetime, str, int):
        # validation could not refuse or change any of them.
        return trusted(SourceCoordinates, {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": None if self.key is None else self.key.decode("utf-8", errors="replace"),
            "timestamp": (
                None
                if self.timestamp_ms is None
                else datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)
            ),
        })  # fmt: skip


class Refused(Exception):
    """An adapter cannot turn a record into a canonical event; says why, naming the field."""

    def __init__(self, reason: ExceptionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def exception_record(
    raw: RawRecord, refusal: Refused, step: str, detected_at: datetime
) -> ExceptionRecord:
    """The exception record that keeps a refused record whole, for repair and replay."""
    return ExceptionRecord(
        exception_id=f"{raw.topic}:{raw.partition}:{raw.offset}",
        reason=refusal.reason,
        message=refusal.message,
        raw_key=raw.key,
        raw_value=raw.value,
        source=raw.coordinates(),
        step=step,
        detected_at=detected_at,
        replay_count=raw.replay_count,
    )
