"""Compact pickles for the items that cross between Bytewax workers.

Bytewax pickles every item it exchanges, one at a time, so nothing is shared between them: an
aware datetime pickles with its time zone object (a reduce of its own), and an enum member with
its class, looked up by name again on the other side. Items that cross often reduce to plain
values instead: an instant as microseconds since the epoch, a member as its value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def moment(micros: int) -> datetime:
    """The aware UTC datetime of `micros` since the epoch."""
    return EPOCH + micros * _MICROSECOND
