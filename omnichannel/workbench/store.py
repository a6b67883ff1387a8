"""The case book kept in step with the exception and audit topics: the workbench's only state.

At start the book is rebuilt from `integration.exceptions` and `integration.exceptions.audit`,
each read to its end; a daemon thread then follows both, and the canonical topics, to see what
each pending replay became. A person's action is written to the audit topic first (idempotent
producer, all in-sync replicas, flushed) and applied only once the broker has it: when the
write fails, nothing changed. A replay sends the raw record back to its source topic as
`omni exceptions replay` does, and records where it landed; the outcome (a canonical record
read from those coordinates, or a new exception raised at them) is written as an audit event
too, so that the state stays a fold of the two topics and nothing else.

An audit record that does not decode, or an event that does not apply, is refused: logged
with its offset and why, listed by `refused_audit()`, and it changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from omnichannel.codec import codec_for
from omnichannel.contracts.common import SourceCoordinates
from omnichannel.contracts.exception_audit import AuditAction, ExceptionAudit, ReplayOutcome
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.decoding import CanonicalDecoder, View
from omnichannel.exception_replay import replay_headers, still_refused
from omnichannel.kafka_settings import client_config, producer_config
from omnichannel.reference import load_reference
from omnichannel.topics import Topics
from omnichannel.workbench.cases import Actor, CaseBook, TransitionError
from omnichannel.workbench.following import Follower, follow, follow_from
from operators.adapters.raw import RawRecord
from operators.normalize import Normalizer

logger = logging.getLogger(__name__)

Coordinates = tuple[str, int, int]

# How long a write may wait for the broker before the action is refused. Unlike the flows'
# producers, which wait out an outage, a person is waiting for the answer here.
WRITE_TIMEOUT_S = 30
# Canonical records of a replay are looked for from a little before the replay landed: the
# normalization flow may run on a host whose clock is somewhat behind this one's.
CLOCK_MARGIN = timedelta(minutes=5)
RECENT_CANONICAL = 10_000


class AuditWriteError(RuntimeError):
    """The broker did not take a record (an audit event, a replayed record) in time."""


@dataclass(frozen=True)
class RefusedAudit:
    """An audit record that changed nothing: where it was (when known), why, and the event
    (None for bytes that did not decode)."""

    partition: int | None
    offset: int | None
    why: str
    event: ExceptionAudit | None


@dataclass
class ReplaySummary:
    """What a replay did with each case asked for."""

    sent: list[str] = field(default_factory=list)
    still_unmapped: dict[str, str] = field(default_factory=dict)  # id -> why it still fails
    refused: dict[str, str] = field(default_factory=dict)  # id -> why it was not sent


@dataclass
class _Delivery:
    error: str | None = None
    landed: SourceCoordinates | None = None


class CaseStore(Follower):
    """The CaseBook kept in step with the exception and audit topics."""

    def __init__(
        self,
        brokers: list[str],
        topics: Topics,
        schema_registry_url: str | None = None,
        reference_file: Path | None = None,
    ) -> None:
        # start() rebuilds the book from both topics, then follows them (and the canonical
        # topics) in a daemon thread; ready() once the rebuild is done.
        super().__init__("workbench-cases", "the exception topics")
        self.topics = topics
        self._canonical_topics = (
            topics.canonical_orders,
            topics.canonical_movements,
            topics.canonical_settlements,
        )
        self.lock = threading.RLock()
        self._book = CaseBook(topics)
        self._config = client_config(brokers)
        self._reference_file = reference_file
        self._producer = Producer(
            producer_config(brokers, message_timeout_ms=WRITE_TIMEOUT_S * 1000)
        )
        self._exceptions = codec_for(ExceptionRecord, schema_registry_url, topics.exceptions)
        self._audit = codec_for(ExceptionAudit, schema_registry_url, topics.exceptions_audit)
        # Only where each canonical record came from is read; the rest is skipped unread.
        self._canonical = CanonicalDecoder(
            topics,
            schema_registry_url,
            dict.fromkeys(self._canonical_topics, SOURCE_ONLY),
        )
        self._handlers: dict[str, Callable[[Message], None]] = {
            topics.exceptions: self._read_exception,
            topics.exceptions_audit: self._read_audit,
            **dict.fromkeys(self._canonical_topics, self._read_canonical),
        }
        self._audit_positions: dict[str, tuple[int, int]] = {}  # audit id -> where it was read
        self._undecodable: dict[int, tuple[int, int]] = {}  # index in book.refused -> where
        self._awaited: dict[Coordinates, str] = {}  # replays pending or just sent -> case
        self._landed: set[Coordinates] = set()  # awaited coordinates a canonical record came from
        # Where the latest canonical records came from: one may be read before its replay's
        # delivery is confirmed to this store.
        self._recent: OrderedDict[Coordinates, None] = OrderedDict()
        self._settling = threading.Lock()
        # One action at a time, from decision to applied: this store never writes an event
        # that an action of its own, taken meanwhile, would make refused.
        self._acting = threading.Lock()

    @property
    def book(self) -> CaseBook:
        """The case book; read it under `lock`."""
        return self._book

    def stop(self) -> None:
        super().stop()
        self._producer.flush(WRITE_TIMEOUT_S)

    def refused_audit(self) -> list[RefusedAudit]:
        """The audit records that changed nothing, in the order they were refused."""
        with self.lock:
            refused = []
            for index, (event, why) in enumerate(self._book.refused):
                where = self._undecodable.get(index)
                if where is None and event is not None:
                    where = self._audit_positions.get(event.audit_id)
                partition, offset = where if where is not None else (None, None)
                refused.append(RefusedAudit(partition, offset, why, event))
            return refused

    # Acting.

    def act(
        self,
        actor: Actor,
        exception_id: str,
        action: AuditAction,
        *,
        reason: str | None = None,
        assignee: str | None = None,
        expected_status: str | None = None,
    ) -> ExceptionAudit:
        """Decide, write the event to the audit topic, then apply it; return the event.

        Raises PermissionError (a viewer), TransitionError (the action does not apply) or
        AuditWriteError (the broker did not take it): in each case nothing changed.
        """
        with self._acting:
            with self.lock:
                event = self._book.decide(
                    actor,
                    exception_id,
                    action,
                    reason=reason,
                    assignee=assignee,
                    expected_status=expected_status,
                    now=datetime.now(UTC),
                )
            self._write([event])
            with self.lock:
                self._fold_own(event)
            return event

    def replay(self, actor: Actor, exception_ids: list[str]) -> ReplaySummary:
        """Send the cases' raw records back to their source topics, those that the reference
        data (read again now) maps; record each replay with where it landed.

        Raises PermissionError for a viewer, before anything is sent.
        """
        with self._acting:
            summary = self._replay(actor, exception_ids)
        self._settle_quietly()
        return summary

    def _replay(self, actor: Actor, exception_ids: list[str]) -> ReplaySummary:
        summary = ReplaySummary()
        normalizer = Normalizer.for_topics(load_reference(self._reference_file), self.topics)
        now = datetime.now(UTC)
        chosen: list[ExceptionRecord] = []
        with self.lock:
            for exception_id in dict.fromkeys(exception_ids):
                try:
                    case = self._book.check(actor, exception_id, AuditAction.REPLAY)
                except TransitionError as exc:
                    summary.refused[exception_id] = str(exc)
                    continue
                again = still_refused(case.exception, normalizer, now)
                if again is not None:
                    summary.still_unmapped[exception_id] = f"{again.reason}: {again.message}"
                else:
                    chosen.append(case.exception)
        deliveries = self._send_back(chosen)
        events: list[ExceptionAudit] = []
        with self.lock:
            for record, delivery in zip(chosen, deliveries, strict=True):
                if delivery.landed is None:
                    summary.refused[record.exception_id] = f"not sent: {delivery.error}"
                    continue
                # Awaited from now on: its canonical record may come before its REPLAY event.
                self._await(delivery.landed, record.exception_id)
                try:
                    events.append(
                        self._book.replay_event(
                            actor, record.exception_id, delivery.landed, datetime.now(UTC)
                        )
                    )
                except TransitionError as exc:  # changed while its record was on its way
                    summary.refused[record.exception_id] = f"sent, not recorded: {exc}"
                    self._forget(delivery.landed)
        written = self._write_each(events)
        with self.lock:
            for event, error in zip(events, written, strict=True):
                assert event.replayed_to is not None
                try:
                    if error is not None:
                        raise AuditWriteError(error)
                    self._fold_own(event)
                except (AuditWriteError, TransitionError) as exc:
                    summary.refused[event.exception_id] = (
                        f"sent to {_where(event.replayed_to)}, but the replay could not be "
                        f"recorded: {exc}"
                    )
                    self._forget(event.replayed_to)
                else:
                    summary.sent.append(event.exception_id)
        return summary

    def _await(self, landed: SourceCoordinates, exception_id: str) -> None:
        """Watch for what the replayed record at `landed` becomes (under the lock)."""
        where = _coordinates(landed)
        self._awaited[where] = exception_id
        if where in self._recent:
            self._landed.add(where)

    def _forget(self, landed: SourceCoordinates) -> None:
        where = _coordinates(landed)
        self._awaited.pop(where, None)
        self._landed.discard(where)

    def _fold_own(self, event: ExceptionAudit) -> None:
        """Apply an event this store wrote (already on the topic); TransitionError if the case
        changed since it was decided (the topic's other readers refuse it the same way)."""
        refused = len(self._book.refused)
        if self._book.fold(event) is None or len(self._book.refused) > refused:
            why = self._book.refused[-1][1] if len(self._book.refused) > refused else "held"
            raise TransitionError(why)
        if event.action is AuditAction.REPLAY and event.replayed_to is not None:
            self._await(event.replayed_to, event.exception_id)

    def _send_back(self, records: list[ExceptionRecord]) -> list[_Delivery]:
        """Produce each record's raw key and value to its source topic; where each landed."""
        deliveries = [_Delivery() for _ in records]
        for record, delivery in zip(records, deliveries, strict=True):
            self._producer.produce(
                record.source.topic,
                key=record.raw_key,
                value=record.raw_value,
                headers=replay_headers(record),
                on_delivery=_landing(delivery),
            )
            self._producer.poll(0)
        self._producer.flush(WRITE_TIMEOUT_S + 5)
        for delivery in deliveries:
            if delivery.landed is None and delivery.error is None:
                delivery.error = f"the broker did not confirm it in {WRITE_TIMEOUT_S}s"
        return deliveries

    def _write(self, events: list[ExceptionAudit]) -> None:
        """Write the events to the audit topic; AuditWriteError unless the broker took all."""
        errors = [error for error in self._write_each(events) if error is not None]
        if errors:
            raise AuditWriteError(f"the audit topic did not take the event: {errors[0]}")

    def _write_each(self, events: list[ExceptionAudit]) -> list[str | None]:
        """Write the events to the audit topic (keyed by case, so that a case's events keep
        their order); for each, None when the broker has it, else why not."""
        deliveries = [_Delivery() for _ in events]
        for event, delivery in zip(events, deliveries, strict=True):
            self._producer.produce(
                self.topics.exceptions_audit,
                key=event.exception_id.encode(),
                value=self._audit.encode_model(event),
                on_delivery=_landing(delivery),
            )
            self._producer.poll(0)
        self._producer.flush(WRITE_TIMEOUT_S + 5)
        return [
            delivery.error or (None if delivery.landed else f"not confirmed in {WRITE_TIMEOUT_S}s")
            for delivery in deliveries
        ]

    # Outcomes.

    def _settle(self) -> None:
        """Write the outcome of each pending replay whose record was seen again: a new
        exception at its coordinates (failed again), or a canonical record read from them."""
        with self._settling:
            self._settle_due()

    def _settle_due(self) -> None:
        now = datetime.now(UTC)
        due: list[ExceptionAudit] = []
        with self.lock:
            for where, case_id in self._book.pending_replays().items():
                case = self._book.get(case_id)
                assert case is not None
                failed = next((a for a in case.attempts if _coordinates(a.source) == where), None)
                if failed is not None:
                    detail = f"{failed.reason}: {failed.message}"
                    due.append(
                        self._book.outcome_event(case_id, ReplayOutcome.FAILED_AGAIN, detail, now)
                    )
                elif where in self._landed:
                    due.append(
                        self._book.outcome_event(case_id, ReplayOutcome.BECAME_CANONICAL, None, now)
                    )
        if not due:
            return
        self._write(due)
        with self.lock:
            for event in due:
                self._book.fold(event)
                if event.replayed_to is not None:
                    self._forget(event.replayed_to)

    def _settle_quietly(self) -> None:
        try:
            self._settle()
        except AuditWriteError as exc:
            # Still pending: tried again after the next poll.
            logger.warning("replay outcome not recorded yet: %s", exc)

    # Reading the topics.

    def follow_topics(self) -> None:
        positions = follow_from(self._config, self.topics.exceptions, self._read_exception)
        positions += follow_from(self._config, self.topics.exceptions_audit, self._read_audit)
        with self.lock:
            self._awaited.update(self._book.pending_replays())
        positions += self._canonical_positions()
        self.became_ready()
        logger.info(
            "workbench: %d cases rebuilt, %d audit records refused",
            len(self._book),
            len(self._book.refused),
        )
        self._settle_quietly()
        follow(self._config, positions, self._read, self.stopping, self._settle_quietly)

    def _canonical_positions(self) -> list[TopicPartition]:
        """Where to read the canonical topics from: a little before the oldest pending replay
        landed, so that an outcome the workbench was not running to see is seen now; their
        ends when nothing is pending."""
        with self.lock:
            pending = [
                case.replayed_to
                for case_id in self._book.pending_replays().values()
                if (case := self._book.get(case_id)) is not None and case.replayed_to is not None
            ]
        stamps = [landed.timestamp for landed in pending]
        since: datetime | None = None
        if pending and all(stamp is not None for stamp in stamps):
            since = min(stamp for stamp in stamps if stamp is not None) - CLOCK_MARGIN
        consumer = Consumer({**self._config, "group.id": "omni.workbench.positions"})
        try:
            positions: list[TopicPartition] = []
            for topic in self._canonical_topics:
                partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
                for partition in partitions:
                    end = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=30
                    )[1]
                    if not pending:
                        positions.append(TopicPartition(topic, partition, end))
                    elif since is None:
                        positions.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
                    else:
                        at_time = TopicPartition(topic, partition, int(since.timestamp() * 1000))
                        [found] = consumer.offsets_for_times([at_time], timeout=30)
                        start = found.offset if found.offset >= 0 else end
                        positions.append(TopicPartition(topic, partition, start))
            return positions
        finally:
            consumer.close()

    def _read(self, message: Message) -> None:
        self._handlers[message.topic() or ""](message)

    def _read_exception(self, message: Message) -> None:
        try:
            record = self._exceptions.decode_model(message.value() or b"")
        except Exception as exc:  # noqa: BLE001 - whatever the bytes are, they are one bad record
            logger.warning(
                "%s:%s:%s: not an exception record, left out: %s",
                message.topic(),
                message.partition(),
                message.offset(),
                exc,
            )
            return
        with self.lock:
            self._book.add_exception(record)

    def _read_audit(self, message: Message) -> None:
        partition, offset = message.partition() or 0, message.offset() or 0
        try:
            event = self._audit.decode_model(message.value() or b"")
        except Exception as exc:  # noqa: BLE001 - whatever the bytes are, they are one bad record
            why = f"offset {partition}:{offset} is not an audit event: {exc}"
            logger.warning("%s: refused %s", self.topics.exceptions_audit, why)
            with self.lock:
                self._undecodable[len(self._book.refused)] = (partition, offset)
                self._book.refuse(None, why)
            return
        with self.lock:
            self._audit_positions.setdefault(event.audit_id, (partition, offset))
            refused = len(self._book.refused)
            self._book.fold(event)
            if len(self._book.refused) > refused:
                logger.warning(
                    "%s: refused the event at %s:%s: %s",
                    self.topics.exceptions_audit,
                    partition,
                    offset,
                    self._book.refused[-1][1],
                )
            elif event.action is AuditAction.REPLAY and event.replayed_to is not None:
                self._await(event.replayed_to, event.exception_id)

    def _read_canonical(self, message: Message) -> None:
        raw = RawRecord(
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
            message.key(),
            message.value() or b"",
        )
        where = self._canonical.decode(raw, "workbench")
        if isinstance(where, ExceptionRecord):
            logger.warning("%s:%s:%s: %s", raw.topic, raw.partition, raw.offset, where.message)
            return
        with self.lock:
            if where in self._awaited:
                self._landed.add(where)
            self._recent[where] = None
            if len(self._recent) > RECENT_CANONICAL:
                self._recent.popitem(last=False)


def _source_of(record: Any) -> Coordinates:
    source: SourceCoordinates = record.source
    return _coordinates(source)


# What the store reads of a canonical record: where it came from.
SOURCE_ONLY = View(
    projection={"source": {"topic": None, "partition": None, "offset": None}},
    make=lambda source: source,
    of=_source_of,
)


def _landing(delivery: _Delivery) -> Callable[[KafkaError | None, Message], None]:
    """A delivery callback filling in where the record landed, or why it did not."""

    def landed(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            delivery.error = str(error)
            return
        partition, offset = message.partition(), message.offset()
        if partition is None or offset is None:
            delivery.error = "the broker gave no offset"
            return
        stamp = message.timestamp()[1]
        key = message.key()
        delivery.landed = SourceCoordinates(
            topic=message.topic() or "",
            partition=partition,
            offset=offset,
            key=None if key is None else key.decode("utf-8", errors="replace"),
            timestamp=datetime.fromtimestamp(stamp / 1000, tz=UTC) if stamp > 0 else None,
        )

    return landed


def _coordinates(source: SourceCoordinates) -> Coordinates:
    return (source.topic, source.partition, source.offset)


def _where(source: SourceCoordinates) -> str:
    return f"{source.topic}:{source.partition}:{source.offset}"
