"""Exception cases: the fold of exception records and audit events into statuses, and the queue.

A case is one exception record (its id is the case id) and what people did about it, as the
audit topic tells: open -> in progress (assigned) -> resolved as replayed, discarded or fixed
upstream, and reopened. A replay sends the raw record to its source topic again; until its
outcome is seen the case is `replay_pending`. An exception raised again at the replayed
record's coordinates is an *attempt* of the case, not a case of its own.

The book is rebuilt from the two topics, read one after the other, so folding is made order
independent where it can be: an audit event for a case not seen yet is held until its
exception arrives, and an exception at a replay's coordinates seen before the REPLAY event is
linked when the event arrives. An event that does not apply is refused (kept with why), never
applied, and never stops the rebuild. Pure: no I/O; the store reads and writes the topics.
"""

from __future__ import annotations

import dataclasses
import uuid
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from math import ceil
from operator import attrgetter

from omnichannel.contracts.common import SourceCoordinates
from omnichannel.contracts.exception_audit import AuditAction, ExceptionAudit, ReplayOutcome
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.topics import Topics
from omnichannel.workbench.explain import channel_of, correlation_id

WORKBENCH_ACTOR = "workbench"
DEFAULT_TOPICS = Topics()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)

Coordinates = tuple[str, int, int]


class CaseStatus(StrEnum):
    """Where a case is in the workflow."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    REPLAY_PENDING = "replay_pending"
    RESOLVED = "resolved"


class Resolution(StrEnum):
    """How a resolved case was closed."""

    REPLAYED = "replayed"
    DISCARDED = "discarded"
    FIXED_UPSTREAM = "fixed_upstream"


class Role(StrEnum):
    """What an actor may do: a viewer looks, an operator acts, the system records outcomes."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the identity (trusted header or token) says."""

    user: str
    groups: tuple[str, ...]
    role: Role

    @property
    def can_act(self) -> bool:
        return self.role in (Role.OPERATOR, Role.SYSTEM)


SYSTEM = Actor(WORKBENCH_ACTOR, (), Role.SYSTEM)

WORKING = frozenset({CaseStatus.OPEN, CaseStatus.IN_PROGRESS})
UNRESOLVED = frozenset({CaseStatus.OPEN, CaseStatus.IN_PROGRESS, CaseStatus.REPLAY_PENDING})
# The statuses each action may start from: the workflow's transition table.
ALLOWED: dict[AuditAction, frozenset[CaseStatus]] = {
    AuditAction.ASSIGN: WORKING,
    AuditAction.REPLAY: WORKING,
    AuditAction.OUTCOME: frozenset({CaseStatus.REPLAY_PENDING}),
    AuditAction.DISCARD: WORKING,
    AuditAction.FIX_UPSTREAM: WORKING,
    AuditAction.REOPEN: frozenset({CaseStatus.RESOLVED}),
}
REASON_REQUIRED = frozenset({AuditAction.DISCARD, AuditAction.FIX_UPSTREAM, AuditAction.REOPEN})
CLOSING = {
    AuditAction.DISCARD: Resolution.DISCARDED,
    AuditAction.FIX_UPSTREAM: Resolution.FIXED_UPSTREAM,
}


class TransitionError(ValueError):
    """An action that does not apply to the case: says what was asked, the case's status, and
    what is allowed."""


@dataclass(eq=False)
class Case:
    """One exception case: its first exception record and the workflow's state.

    Its correlation id is read from the raw payload when first asked for: parsing every
    payload would be most of what a rebuild of many cases costs, and the queue needs none.
    """

    exception: ExceptionRecord
    channel: str
    status: CaseStatus = CaseStatus.OPEN
    resolution: Resolution | None = None
    assignee: str | None = None
    history: list[ExceptionAudit] = field(default_factory=list)
    replayed_to: SourceCoordinates | None = None
    attempts: list[ExceptionRecord] = field(default_factory=list)
    last_outcome: ReplayOutcome | None = None
    last_outcome_detail: str | None = None
    topics: Topics = field(default=DEFAULT_TOPICS, repr=False)
    # Its place in the queue: (detected_at in microseconds, id).
    rank: tuple[int, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        micros = (self.exception.detected_at - EPOCH) // ONE_MICROSECOND
        self.rank = (micros, self.exception.exception_id)

    @cached_property
    def correlation_id(self) -> str | None:
        """The order (or movement, or settlement) the exception is about, as the adapters
        would have named it; None when the payload does not say."""
        return correlation_id(self.exception, self.topics)

    @property
    def id(self) -> str:
        return self.exception.exception_id

    @property
    def reason(self) -> ExceptionReason:
        return self.exception.reason

    @property
    def detected_at(self) -> datetime:
        return self.exception.detected_at

    @property
    def updated_at(self) -> datetime:
        """When the last action was taken; when it was detected if nothing was done yet."""
        return self.history[-1].at if self.history else self.detected_at

    def age(self, now: datetime) -> timedelta:
        return now - self.detected_at


BY_RANK = attrgetter("rank")


@dataclass(frozen=True)
class CaseFilter:
    """Which cases the queue shows; None in a field means any."""

    reason: ExceptionReason | None = None
    channel: str | None = None
    status: CaseStatus | None = None
    older_than: timedelta | None = None
    assignee: str | None = None

    def matches(self, case: Case, now: datetime) -> bool:
        """Whether the case passes every set field; `older_than` is an age of at least."""
        return (
            (self.reason is None or case.exception.reason == self.reason)
            and (self.channel is None or case.channel == self.channel)
            and (self.status is None or case.status == self.status)
            and (self.assignee is None or case.assignee == self.assignee)
            and (self.older_than is None or now - case.exception.detected_at >= self.older_than)
        )

    @property
    def is_everything(self) -> bool:
        return self == EVERYTHING


EVERYTHING = CaseFilter()


@dataclass(frozen=True)
class CasePage:
    """One page of the queue: its cases, the filter's total, the page number and count."""

    cases: list[Case]
    total: int
    page: int
    pages: int
    per_page: int


class CaseBook:
    """Every case, folded from exception records and audit events, kept in queue order.

    `refused` lists the audit events that did not apply (None for a record the store could
    not decode) with why; they changed nothing.
    """

    def __init__(self, topics: Topics | None = None) -> None:
        self.topics = topics or DEFAULT_TOPICS
        self.refused: list[tuple[ExceptionAudit | None, str]] = []
        self._cases: dict[str, Case] = {}
        self._channels: dict[str, str] = {}
        # Oldest first, by (detected_at, id), the queue read backwards: exceptions mostly
        # arrive in the order they were detected, and each is appended in its place. One read
        # out of order (the topic's partitions interleave) has the list sorted when next read.
        self._queue: list[Case] = []
        self._sorted = True
        self._last_rank: tuple[int, str] = (-1, "")
        self._exception_ids: set[str] = set()
        self._applied: set[str] = set()
        # Audit events for cases whose exception has not been read yet, by case id.
        self._held: dict[str, list[ExceptionAudit]] = {}
        self._held_ids: set[str] = set()
        # Every replay's coordinates, to its case; and the cases of exceptions at coordinates.
        self._replays: dict[Coordinates, str] = {}
        self._at_source: dict[Coordinates, list[str]] = {}
        # Cases by correlation id, built when first asked for (it parses every payload).
        self._by_order: dict[str | None, list[Case]] | None = None

    def __len__(self) -> int:
        return len(self._cases)

    # Folding the topics.

    def add_exception(self, record: ExceptionRecord) -> Case | None:
        """Fold an exception record: a new case, or an attempt of the case whose replay landed
        at the record's coordinates (that case is returned). A re-delivered id changes nothing
        (None, unless it is a case: that case)."""
        if record.exception_id in self._exception_ids:
            return self._cases.get(record.exception_id)
        self._exception_ids.add(record.exception_id)
        where = _coordinates(record.source)
        replayed = self._replays.get(where)
        if replayed is not None:
            case = self._cases[replayed]
            _add_attempt(case, record)
            return case
        topic = record.source.topic
        channel = self._channels.get(topic)
        if channel is None:
            channel = self._channels[topic] = channel_of(topic, self.topics)
        case = Case(exception=record, channel=channel, topics=self.topics)
        self._cases[case.id] = case
        self._queue.append(case)
        if case.rank < self._last_rank:
            self._sorted = False
        else:
            self._last_rank = case.rank
        self._at_source.setdefault(where, []).append(case.id)
        if self._by_order is not None:
            self._by_order.setdefault(case.correlation_id, []).append(case)
        for event in self._held.pop(case.id, []):
            self._held_ids.discard(event.audit_id)
            self.fold(event)
        return case

    def fold(self, event: ExceptionAudit) -> Case | None:
        """Fold an audit event read from the topic: applied, held for a case not seen yet, or
        refused with why. Never raises; returns the case it changed (None if held or refused)."""
        if event.audit_id in self._applied:
            return self._cases.get(event.exception_id)
        if event.exception_id not in self._cases:
            if event.audit_id not in self._held_ids:
                self._held_ids.add(event.audit_id)
                self._held.setdefault(event.exception_id, []).append(event)
            return None
        try:
            return self.apply(event)
        except TransitionError as exc:
            self.refuse(event, str(exc))
            return None

    def refuse(self, event: ExceptionAudit | None, why: str) -> None:
        """Record an audit event (or a record that did not decode: None) that did not apply."""
        self.refused.append((event, why))

    def held(self) -> list[ExceptionAudit]:
        """Audit events still waiting for their case's exception record."""
        return [event for events in self._held.values() for event in events]

    def apply(self, event: ExceptionAudit) -> Case:
        """Validate the event against its case and apply it; a re-delivered audit id is ignored.

        Raises TransitionError for an unknown case, a viewer's (or unknown) role, a stale
        `expected_status`, a transition the case's status does not allow, or a missing
        mandatory field (a reason, an assignee, where a replay landed, an outcome).
        """
        if event.audit_id in self._applied:
            return self._cases[event.exception_id]
        case = self._check(event)
        self._transition(case, event)
        return case

    # Deciding what a person's action would write.

    def check(
        self,
        actor: Actor,
        exception_id: str,
        action: AuditAction,
        *,
        expected_status: CaseStatus | str | None = None,
    ) -> Case:
        """The case, if the actor may take the action on it now (role, status, staleness).

        Raises PermissionError when the actor may not act at all (a viewer), TransitionError
        when the case is unknown, has changed since the actor saw it, or its status does not
        allow the action. Mandatory fields are checked by `decide` and `apply`.
        """
        if not actor.can_act:
            raise PermissionError(
                f"{actor.user} has the role {actor.role}: a {actor.role} may look at cases, "
                f"not {_verb(action)} them; ask an operator"
            )
        case = self._cases.get(exception_id)
        if case is None:
            raise TransitionError(f"cannot {_verb(action)} case {exception_id}: no such case")
        expected = None if expected_status is None else str(expected_status)
        _check_status(case, action, expected)
        return case

    def decide(
        self,
        actor: Actor,
        exception_id: str,
        action: AuditAction,
        *,
        reason: str | None = None,
        assignee: str | None = None,
        expected_status: CaseStatus | str | None = None,
        now: datetime,
    ) -> ExceptionAudit:
        """The audit event a person's action writes, checked to apply, the book unchanged.

        The store writes it to the audit topic first, then applies it. An assignment without
        an assignee takes the case for the actor. Replays and outcomes have their own events
        (`replay_event`, `outcome_event`): what they carry is known only once sent or seen.
        """
        if action in (AuditAction.REPLAY, AuditAction.OUTCOME):
            raise TransitionError(
                f"cannot {_verb(action)} case {exception_id} by a decision: a replay is "
                "recorded once its record has landed, an outcome once the workbench saw it"
            )
        self.check(actor, exception_id, action, expected_status=expected_status)
        if action is AuditAction.ASSIGN and assignee is None:
            assignee = actor.user
        event = ExceptionAudit(
            audit_id=uuid.uuid4().hex,
            exception_id=exception_id,
            action=action,
            actor=actor.user,
            actor_groups=list(actor.groups),
            role=actor.role.value,
            at=now,
            reason=_stripped(reason),
            assignee=_stripped(assignee) if action is AuditAction.ASSIGN else None,
            expected_status=None if expected_status is None else str(expected_status),
        )
        self._check(event)
        return event

    def replay_event(
        self,
        actor: Actor,
        exception_id: str,
        replayed_to: SourceCoordinates,
        now: datetime,
    ) -> ExceptionAudit:
        """The REPLAY event for a case whose raw record landed at `replayed_to`; checked, the
        book unchanged. It expects the case's status as the book has it now."""
        case = self.check(actor, exception_id, AuditAction.REPLAY)
        event = ExceptionAudit(
            audit_id=uuid.uuid4().hex,
            exception_id=exception_id,
            action=AuditAction.REPLAY,
            actor=actor.user,
            actor_groups=list(actor.groups),
            role=actor.role.value,
            at=now,
            expected_status=case.status.value,
            replayed_to=replayed_to,
        )
        self._check(event)
        return event

    def outcome_event(
        self,
        exception_id: str,
        outcome: ReplayOutcome,
        detail: str | None,
        now: datetime,
    ) -> ExceptionAudit:
        """The OUTCOME event of a pending replay, by the workbench; checked, the book unchanged.

        Its audit id is made of the case and the replay's coordinates, so that two workbenches
        that saw the same outcome write one event, folded once.
        """
        case = self.check(SYSTEM, exception_id, AuditAction.OUTCOME)
        landed = case.replayed_to
        if landed is None:
            raise TransitionError(f"cannot record an outcome for case {exception_id}: no replay")
        event = ExceptionAudit(
            audit_id=outcome_id(exception_id, landed),
            exception_id=exception_id,
            action=AuditAction.OUTCOME,
            actor=SYSTEM.user,
            actor_groups=[],
            role=SYSTEM.role.value,
            at=now,
            expected_status=CaseStatus.REPLAY_PENDING.value,
            replayed_to=landed,
            outcome=outcome,
            outcome_detail=detail,
        )
        self._check(event)
        return event

    # Reading the book.

    def pending_replays(self) -> dict[Coordinates, str]:
        """Where each pending replay landed (topic, partition, offset), to its case id."""
        pending: dict[Coordinates, str] = {}
        for case_id in set(self._replays.values()):
            case = self._cases[case_id]
            if case.status is CaseStatus.REPLAY_PENDING and case.replayed_to is not None:
                pending[_coordinates(case.replayed_to)] = case_id
        return pending

    def get(self, exception_id: str) -> Case | None:
        return self._cases.get(exception_id)

    def cases_of(self, correlation_id: str) -> list[Case]:
        """The cases about one order (movement, settlement), newest first."""
        if self._by_order is None:
            self._by_order = {}
            for case in self._ordered():
                self._by_order.setdefault(case.correlation_id, []).append(case)
        cases = [case for case in self._by_order.get(correlation_id, []) if case.id in self._cases]
        return sorted(cases, key=BY_RANK, reverse=True)

    def select(self, filter: CaseFilter, now: datetime) -> list[Case]:
        """The cases the filter matches, newest first: by detected_at, then id, descending.

        The queue is in detection order, so an age filter is a cut of it, not a test of each.
        """
        queue = self._ordered()
        if filter.older_than is not None:
            latest = (now - filter.older_than - EPOCH) // ONE_MICROSECOND
            queue = queue[: bisect_right(queue, latest, key=_detected_micros)]
            filter = dataclasses.replace(filter, older_than=None)
        if filter.is_everything:
            return queue[::-1]
        matches = filter.matches
        return [case for case in reversed(queue) if matches(case, now)]

    def page(
        self, filter: CaseFilter, now: datetime, page: int = 1, per_page: int = 50
    ) -> CasePage:
        """One page of the filter's cases; a page beyond the last is the last."""
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, got {per_page}")
        if filter.is_everything:
            queue = self._ordered()
            total = len(queue)
            page, pages = _bounded(page, total, per_page)
            end = total - (page - 1) * per_page
            cases = queue[max(0, end - per_page) : end][::-1]
        else:
            selected = self.select(filter, now)
            total = len(selected)
            page, pages = _bounded(page, total, per_page)
            start = (page - 1) * per_page
            cases = selected[start : start + per_page]
        return CasePage(cases, total, page, pages, per_page)

    def counts_by_reason(self, filter: CaseFilter, now: datetime) -> dict[str, int]:
        """How many cases of each reason the filter matches, its own reason ignored; most first."""
        cases = self.select(dataclasses.replace(filter, reason=None), now)
        counts = Counter(case.exception.reason.value for case in cases)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def oldest_open_age(self, now: datetime) -> timedelta | None:
        """The age of the oldest case not resolved yet (open, in progress, replay pending)."""
        for case in self._ordered():
            if case.status in UNRESOLVED:
                return case.age(now)
        return None

    # Inside.

    def _ordered(self) -> list[Case]:
        """Every case, oldest first."""
        if not self._sorted:
            self._queue.sort(key=BY_RANK)
            self._last_rank = self._queue[-1].rank if self._queue else (-1, "")
            self._sorted = True
        return self._queue

    def _check(self, event: ExceptionAudit) -> Case:
        """The event's case, if the event applies to it; TransitionError saying why not."""
        case = self._cases.get(event.exception_id)
        what = f"{_verb(event.action)} case {event.exception_id}"
        if case is None:
            raise TransitionError(f"cannot {what}: no such case")
        if event.role not in tuple(Role):
            raise TransitionError(f"cannot {what}: unknown role {event.role!r}")
        if event.role == Role.VIEWER:
            raise TransitionError(f"cannot {what}: {event.actor} is a viewer, who may not act")
        if event.action is AuditAction.OUTCOME and event.role != Role.SYSTEM:
            raise TransitionError(f"cannot {what}: only the workbench records replay outcomes")
        _check_status(case, event.action, event.expected_status)
        if event.action in REASON_REQUIRED and _stripped(event.reason) is None:
            raise TransitionError(f"cannot {what}: a reason is mandatory, and none was given")
        if event.action is AuditAction.ASSIGN and _stripped(event.assignee) is None:
            raise TransitionError(f"cannot {what}: no assignee given")
        if event.action in (AuditAction.REPLAY, AuditAction.OUTCOME) and event.replayed_to is None:
            raise TransitionError(f"cannot {what}: it does not say where the replay landed")
        if event.action is AuditAction.OUTCOME:
            if event.outcome is None:
                raise TransitionError(f"cannot {what}: it does not say what the replay became")
            landed, awaited = event.replayed_to, case.replayed_to
            if landed and awaited and _coordinates(landed) != _coordinates(awaited):
                raise TransitionError(
                    f"cannot {what}: the outcome is of the replay at {_where(landed)}, "
                    f"the case awaits the one at {_where(awaited)}"
                )
        return case

    def _transition(self, case: Case, event: ExceptionAudit) -> None:
        """Apply a checked event to its case."""
        action = event.action
        if action is AuditAction.ASSIGN:
            case.status = CaseStatus.IN_PROGRESS
            case.assignee = _stripped(event.assignee)
        elif action is AuditAction.REPLAY:
            assert event.replayed_to is not None
            case.status = CaseStatus.REPLAY_PENDING
            case.replayed_to = event.replayed_to
            self._link_replay(case, _coordinates(event.replayed_to))
        elif action is AuditAction.OUTCOME:
            case.last_outcome = event.outcome
            case.last_outcome_detail = event.outcome_detail
            if event.outcome is ReplayOutcome.BECAME_CANONICAL:
                case.status = CaseStatus.RESOLVED
                case.resolution = Resolution.REPLAYED
            else:
                case.status = _working(case)
        elif action is AuditAction.REOPEN:
            case.status = _working(case)
            case.resolution = None
        else:
            case.status = CaseStatus.RESOLVED
            case.resolution = CLOSING[action]
        case.history.append(event)
        self._applied.add(event.audit_id)

    def _link_replay(self, case: Case, where: Coordinates) -> None:
        """Remember where the replay landed; exceptions already read there are its attempts.

        Such an exception became a case of its own when it was read before the REPLAY event:
        it is taken out of the queue, unless someone acted on it already.
        """
        self._replays[where] = case.id
        for other_id in self._at_source.pop(where, []):
            other = self._cases[other_id]
            if other is case:
                continue
            _add_attempt(case, other.exception)
            if not other.history:
                del self._cases[other_id]
                self._queue.remove(other)


def _bounded(page: int, total: int, per_page: int) -> tuple[int, int]:
    """The page number within 1..pages, and the number of pages (one, when there is none)."""
    pages = max(1, ceil(total / per_page))
    return min(max(page, 1), pages), pages


def outcome_id(exception_id: str, replayed_to: SourceCoordinates) -> str:
    """The deterministic audit id of a replay's outcome."""
    return f"outcome:{exception_id}:{_where(replayed_to)}"


def _check_status(case: Case, action: AuditAction, expected: str | None) -> None:
    what = f"{_verb(action)} case {case.id}"
    if expected is not None and expected != case.status.value:
        raise TransitionError(
            f"cannot {what}: it was {expected.replace('_', ' ')} when you saw it and is "
            f"{_status(case)} now; "
            "reload the case and decide again"
        )
    allowed = ALLOWED[action]
    if case.status not in allowed:
        names = " or ".join(sorted(status.value.replace("_", " ") for status in allowed))
        raise TransitionError(
            f"cannot {what}: it is {_status(case)}; {action.value} is allowed only when it is "
            f"{names}"
        )


def _detected_micros(case: Case) -> int:
    return case.rank[0]


def _working(case: Case) -> CaseStatus:
    """Back to work: in progress with its assignee, open without one."""
    return CaseStatus.IN_PROGRESS if case.assignee else CaseStatus.OPEN


def _add_attempt(case: Case, record: ExceptionRecord) -> None:
    case.attempts.append(record)
    case.attempts.sort(key=lambda attempt: (attempt.detected_at, attempt.exception_id))


def _coordinates(source: SourceCoordinates) -> Coordinates:
    return (source.topic, source.partition, source.offset)


def _where(source: SourceCoordinates) -> str:
    return f"{source.topic}:{source.partition}:{source.offset}"


def _status(case: Case) -> str:
    status = case.status.value.replace("_", " ")
    return f"{status} ({case.resolution.value.replace('_', ' ')})" if case.resolution else status


VERBS = {
    AuditAction.OUTCOME: "record an outcome for",
    AuditAction.FIX_UPSTREAM: "mark fixed upstream",
}


def _verb(action: AuditAction) -> str:
    """The action as a verb: "cannot <verb> case X"."""
    return VERBS.get(action, action.value)


def _stripped(text: str | None) -> str | None:
    """The text without surrounding blanks; None when nothing is left."""
    if text is None:
        return None
    return text.strip() or None
