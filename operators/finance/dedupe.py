"""Duplicate detection for one order's events: exact re-deliveries and re-submissions.

An exact re-delivery has the same event id (same webhook id, topic and `updated_at`; the same
POS receipt; the same marketplace order, status and `LastUpdateDate`). A re-submission is the
same step of the order (same event type and document) under a new event identity: with the
same content it is a duplicate order, with different content a conflicting re-submission.

The memory is bounded: event ids older than `horizon` of event time behind the order's newest
event are forgotten, and at most `max_events` are kept, the oldest going first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from operator import attrgetter
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from omnichannel.contracts.order_event import OrderEvent

DEFAULT_HORIZON = timedelta(days=7)
DEFAULT_MAX_EVENTS = 256
# What may differ between two deliveries of the same content.
_IDENTITY_FIELDS = {"event_id", "event_time", "source", "channel_status", "order_placed_at"}


class Verdict(Enum):
    NEW = "new"
    DUPLICATE_EVENT = "duplicate_event"
    DUPLICATE_ORDER = "duplicate_order"
    CONFLICTING_RESUBMISSION = "conflicting_resubmission"


# What json.dumps(content, sort_keys=True) writes, with its C encoder made once instead of on
# every call (the digests must stay those of earlier versions: they are kept in the state).
_SORTED_JSON = c_make_encoder(
    None, None, encode_basestring_ascii, None, ": ", ", ", True, False, True
)


def content_hash(event: OrderEvent) -> str:
    """A digest of what the event says, leaving out when and as what it was delivered: the
    repr of its fields' values in their declared order, nested contracts and lists as tuples
    (`_plain`), walked by code made for the contract (`_content_walker`) rather than through
    pydantic's serializer. Versioned (`v2:`): a step remembered under the first version's
    digest is compared by that one."""
    content = _content_walker(type(event))(event)
    return DIGEST_V2 + hashlib.blake2b(repr(content).encode(), digest_size=8).hexdigest()


def content_hash_v1(event: OrderEvent) -> str:
    """The first version's digest: the content as sorted JSON, through pydantic (in snapshots
    written before `v2:`)."""
    content = event.model_dump(mode="json", exclude=_IDENTITY_FIELDS)
    return hashlib.sha256("".join(_SORTED_JSON(content, 0)).encode()).hexdigest()[:16]


def same_content(known: str, event: OrderEvent, digest: str) -> bool:
    """Whether a remembered digest (of either version) is of the event's content."""
    if known.startswith(DIGEST_V2):
        return known == digest
    return known == content_hash_v1(event)


DIGEST_V2 = "v2:"


def _plain(value: Any) -> Any:
    """A contract as a tuple of its fields' values in their declared order, lists as tuples:
    what a content digest is taken of (the definition; `_content_walker` computes the same)."""
    if isinstance(value, BaseModel):
        return tuple(map(_plain, value.__dict__.values()))
    if isinstance(value, list):
        return tuple(map(_plain, value))
    return value


@cache
def _content_walker(model: type[BaseModel]) -> Callable[[Any], tuple[Any, ...]]:
    """`_plain` of a model's content fields (all but `_IDENTITY_FIELDS`), as code written for
    the model: a leaf is read as it is, a nested contract by its own walker, a list of them as
    a tuple; any other shape of field goes through `_plain`. Half the cost of the generic walk,
    and the same tuple (tests/unit/test_dedupe.py compares them)."""
    names = [name for name in model.model_fields if name not in _IDENTITY_FIELDS]
    return _walker(model, tuple(names))


@cache
def _walker(model: type[BaseModel], names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    scope: dict[str, Any] = {"_plain": _plain}
    parts = []
    for name in names:
        annotation = model.model_fields[name].annotation
        read = f"d[{name!r}]"
        if _is_leaf(annotation):
            parts.append(read)
        elif (inner := _contract_of(annotation)) is not None:
            scope[f"w_{name}"] = _walker(inner, tuple(inner.model_fields))
            parts.append(f"w_{name}({read})")
        elif (
            get_origin(annotation) is list
            and (inner := _contract_of(get_args(annotation)[0])) is not None
        ):
            scope[f"w_{name}"] = _walker(inner, tuple(inner.model_fields))
            parts.append(f"tuple([w_{name}(item) for item in {read}])")
        else:
            parts.append(f"_plain({read})")
    source = f"def walk(value):\n    d = value.__dict__\n    return ({', '.join(parts)},)\n"
    exec(compile(source, f"<content walker of {model.__name__}>", "exec"), scope)
    walk: Callable[[Any], tuple[Any, ...]] = scope["walk"]
    return walk


def _contract_of(annotation: Any) -> type[BaseModel] | None:
    """The contract a field always holds (never None, never a list), if it is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


_LEAF_TYPES = (str, int, Decimal, datetime, date, bytes, type(None))


def _is_leaf(annotation: Any) -> bool:
    """Whether a field's values are never a contract nor a list (taken as they are)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_leaf(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return all(_is_leaf(argument) for argument in get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, _LEAF_TYPES)


@dataclass(slots=True)
class EventMemory:
    """The event ids and step contents one order has seen."""

    seen: dict[str, datetime] = field(default_factory=dict)
    steps: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, document) -> hash

    def copy(self) -> EventMemory:
        """An independent copy (its values are immutable)."""
        return EventMemory(dict(self.seen), dict(self.steps))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by value: a slotted dataclass otherwise pickles through a Python
        # __getstate__ that looks its fields up on every call.
        return EventMemory, _EVENT_MEMORY_FIELDS(self)

    def classify(
        self,
        event: OrderEvent,
        horizon: timedelta = DEFAULT_HORIZON,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> Verdict:
        """Remember the event and say whether it is new or a kind of duplicate."""
        if event.event_id in self.seen:
            return Verdict.DUPLICATE_EVENT
        self.seen[event.event_id] = event.event_time
        self._forget(event.event_time - horizon, max_events)
        step = (event.event_type.value, event.document_id)
        digest = content_hash(event)
        known = self.steps.get(step)
        if known is None:
            self.steps[step] = digest
            return Verdict.NEW
        if same_content(known, event, digest):
            return Verdict.DUPLICATE_ORDER
        return Verdict.CONFLICTING_RESUBMISSION

    def _forget(self, cutoff: datetime, max_events: int) -> None:
        stale = [event_id for event_id, when in self.seen.items() if when < cutoff]
        for event_id in stale:
            del self.seen[event_id]
        while len(self.seen) > max_events:
            del self.seen[min(self.seen, key=self.seen.__getitem__)]


_EVENT_MEMORY_FIELDS = attrgetter(*(f.name for f in fields(EventMemory)))
