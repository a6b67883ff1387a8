"""Input records of a scenario: the drafts the day produces and the topics they are delivered to.

A `Draft` is one message on its way to an input topic: its encoded payload, when it happened
(event time) and when it reaches Kafka (delivery time, which orders the topic). Faults re-time
or alter drafts before they are numbered; the finished `Scenario` holds plain `InputRecord`s in
offset order and the manifest of what normalization must make of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from omnichannel.scenario.config import ScenarioSettings

WEB_ORDERS = "orders.web"
POS_ORDERS = "orders.pos"
MARKETPLACE_ORDERS = "orders.marketplace"
MARKETPLACE_SETTLEMENTS = "settlements.marketplace"
MOVEMENTS = "inventory.movements"
INPUT_TOPICS = (WEB_ORDERS, POS_ORDERS, MARKETPLACE_ORDERS, MARKETPLACE_SETTLEMENTS, MOVEMENTS)

CANONICAL_ORDERS = "canonical.orders"
CANONICAL_MOVEMENTS = "canonical.movements"
CANONICAL_SETTLEMENTS = "canonical.settlements"
EXCEPTIONS = "integration.exceptions"
CANONICAL_TOPIC = {
    WEB_ORDERS: CANONICAL_ORDERS,
    POS_ORDERS: CANONICAL_ORDERS,
    MARKETPLACE_ORDERS: CANONICAL_ORDERS,
    MARKETPLACE_SETTLEMENTS: CANONICAL_SETTLEMENTS,
    MOVEMENTS: CANONICAL_MOVEMENTS,
}
OUTPUT_TOPICS = (CANONICAL_ORDERS, CANONICAL_MOVEMENTS, CANONICAL_SETTLEMENTS, EXCEPTIONS)

CANONICAL = "canonical"

# From the moment something happens to the moment its message is in Kafka.
DELIVERY_LATENCY_MS = {
    WEB_ORDERS: 300,
    POS_ORDERS: 150,
    MARKETPLACE_ORDERS: 1_500,
    MARKETPLACE_SETTLEMENTS: 0,
    MOVEMENTS: 100,
}


def _compact_json() -> Callable[[Any], str]:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False)`, set up once.

    `json.dumps` builds a new C encoder on every call, which on the generator's per-record
    path costs a third of encoding a small payload; this builds the same encoder once, so the
    text is exactly what `json.dumps` writes. Values are UTF-8, so nothing needs a `\\u`
    escape; payloads are trees, so the cycle check is skipped.
    """
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, check_circular=False
        ).encode
    encoder = make_encoder(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return lambda value: "".join(encoder(value, 0))


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


encode_json = _compact_json()


@dataclass(slots=True, eq=False)
class Draft:
    """One message of the day before it is numbered: payload, event time, delivery time."""

    topic: str
    key: str
    value: bytes
    event_ms: int
    deliver_ms: int
    seq: int
    kind: str
    expected: str = CANONICAL
    fault: str | None = None
    related: Draft | None = None
    involved: bool = False
    offset: int = -1


class Outbox:
    """Collects the day's drafts in the order they happen."""

    def __init__(self) -> None:
        self.drafts: list[Draft] = []

    def post(
        self, topic: str, key: str, payload: dict[str, Any], event_ms: int, kind: str
    ) -> Draft:
        draft = Draft(
            topic,
            key,
            encode_json(payload).encode(),
            event_ms,
            event_ms + DELIVERY_LATENCY_MS[topic],
            len(self.drafts),
            kind,
        )
        self.drafts.append(draft)
        return draft

    def post_again(self, original: Draft, deliver_ms: int, fault: str) -> Draft:
        """The same message, byte for byte, delivered once more at `deliver_ms`."""
        copy = Draft(
            original.topic,
            original.key,
            original.value,
            original.event_ms,
            deliver_ms,
            len(self.drafts),
            original.kind,
            fault=fault,
            related=original,
            involved=True,
        )
        original.involved = True
        self.drafts.append(copy)
        return copy


class InputRecord(NamedTuple):
    """One message of an input topic as Kafka holds it."""

    key: str
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True)
class Scenario:
    """A generated trading day: per input topic its records in offset order, and the manifest.

    `not_json` names, per topic, the offsets whose value is deliberately not JSON (the
    malformed_json fault); every other value is compact UTF-8 JSON.
    """

    settings: ScenarioSettings
    records: Mapping[str, list[InputRecord]]
    manifest: Mapping[str, Any]
    not_json: Mapping[str, frozenset[int]] = field(default_factory=dict)

    @property
    def total_events(self) -> int:
        return sum(len(records) for records in self.records.values())
