"""Exactly-once postings to Kafka: each idempotency key committed once, across crashes, resumes
and zombies.

The sink keeps one Bytewax partition per partition of the postings topic (a key goes where
Kafka's murmur2 partitioner puts it), and each writes through a transactional producer of its
own: its `transactional.id` names the postings topic and partition, so it is the same across
restarts and rescales, whichever process holds the partition. What an epoch posts is one
transaction, committed when Bytewax snapshots the epoch; the snapshot is the offset after it.

- A crash before the commit: the successor's `init_transactions` aborts the open transaction,
  and a `read_committed` reader (the ERP, the resume scan) never sees those records.
- A crash after the commit and before Bytewax stored the snapshot: on resume, each partition
  reads what was committed from its snapshot's offset to the end (`read_committed`) and does
  not send those keys again.
- A zombie (a process paused by a GC, a frozen node, a network partition, while a successor
  resumed in its place): the successor's `init_transactions` fenced its producer, so its
  produce and commit fail as fenced, and it stops saying so. Nothing it sent is committed.

While the broker is away a commit is retried, every `COMMIT_TIMEOUT_S`, up to
`KAFKA_OUTAGE_TIMEOUT_S`; a transaction the broker aborted meanwhile (it outlived
`transaction.timeout.ms`) is sent again whole: the sink holds an epoch's records until they
are committed.

Items that are `Posting`s (an encoded record with its journal entry's channel, type and event
time) are measured when their transaction commits: the ERP posting delay
(`omni_posting_delay_seconds`), once per committed transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from omnichannel import metrics
from omnichannel.broker_outage import deliver_all, outage_timeout_from_env
from omnichannel.contracts.journal import JournalEntry
from omnichannel.kafka_io import OutboundRecord, produce
from omnichannel.kafka_settings import client_config, producer_config
from omnichannel.partitioning import partition_for
from omnichannel.topic_reader import BATCH_WAIT_S, END_READER

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 60.0
COMMIT_TIMEOUT_S = 10.0
WARN_EVERY_S = 30.0
MIN_WAIT = timedelta(seconds=COMMIT_TIMEOUT_S)
# How long the broker keeps a transaction open without a commit: a dead process's transaction
# blocks `read_committed` readers of its partition at most this long (a successor aborts it at
# once). Records waiting for an unreachable broker expire with it, and are sent again.
TRANSACTION_TIMEOUT_MS = 60_000
FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
# How a producer's calls fail: a KafkaException; a fatal error raised as a KafkaError from a
# flush or poll; or, when that happens while a delivery callback runs, a SystemError around it.
CLIENT_FAILURES: tuple[type[BaseException], ...] = (
    KafkaException, cast(type[BaseException], KafkaError), SystemError
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Posting(OutboundRecord):
    """An encoded journal entry with what its posting delay is measured by."""

    channel: str = ""
    entry_type: str = ""
    event_time_s: float = 0.0  # the newest source event's, in seconds since the Unix epoch

    @classmethod
    def of(cls, record: OutboundRecord, entry: JournalEntry) -> Posting:
        """`record`, the encoding of `entry`, as a posting."""
        return cls(
            record.topic, record.key, record.value, record.headers,
            entry.channel.value, entry.entry_type.value, entry.event_time.timestamp(),
        )  # fmt: skip


def _kafka_error(failure: BaseException | None) -> KafkaError | None:
    """The Kafka error behind a producer call's failure, if there is one."""
    while failure is not None:
        if isinstance(failure, KafkaError):
            return failure
        if isinstance(failure, KafkaException) and failure.args:
            error = failure.args[0]
            return error if isinstance(error, KafkaError) else None
        failure = failure.__cause__ or failure.__context__
    return None


def transactional_id(topic: str, partition: int) -> str:
    """The producer identity of one postings partition: stable across restarts and rescales."""
    return f"omni-postings-{topic}-{partition:05d}"


def keys_written(
    brokers: list[str], topic: str, partition: int, start: int | None
) -> tuple[set[bytes], int]:
    """The keys committed in one partition from `start` (None: the beginning) to its end, and
    the offset after that end."""
    consumer = Consumer(
        client_config(brokers)
        | {
            "group.id": "omni-postings-resume",
            **END_READER,
        }
    )
    try:
        where = TopicPartition(topic, partition)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while True:
            try:
                low, _ = consumer.get_watermark_offsets(where, timeout=READ_TIMEOUT_S)
                break
            except KafkaException as exc:
                # A topic made a moment ago: the broker may not list its partitions yet.
                unknown = exc.args[0].code() == KafkaError._UNKNOWN_PARTITION
                if not unknown or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        first = low if start is None else max(start, low)
        consumer.assign([TopicPartition(topic, partition, first)])
        keys: set[bytes] = set()
        deadline = time.monotonic() + READ_TIMEOUT_S
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}[{partition}]: could not read to its end from {first}")
            for message in consumer.consume(num_messages=1000, timeout=BATCH_WAIT_S):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    # Transaction markers take offsets too: the end is where the reader stands.
                    return keys, consumer.position([where])[0].offset
                if error is not None:
                    raise RuntimeError(f"{topic}[{partition}]: {error}")
                key = message.key()
                if key is not None:
                    keys.add(key)
    finally:
        consumer.close()


class _PostingsPartition(StatefulSinkPartition[OutboundRecord, int]):
    def __init__(
        self,
        brokers: list[str],
        topic: str,
        partition: int,
        resume_from: int | None,
        step_id: str,
        outage_bound: timedelta,
    ) -> None:
        flow = step_id.partition(".")[0]
        self._step_id = step_id
        self._topic = topic
        self._partition = partition
        self._flow = flow
        self._outage_bound = outage_bound
        self._where = f"{topic}[{partition}]"
        self._log = {"flow": flow, "topic": topic, "partition": partition}
        # A fatal error (fenced by a successor): nothing of this producer's can be committed.
        self._fatal: KafkaException | None = None
        self._producer = Producer(
            producer_config(brokers)
            | {
                "transactional.id": transactional_id(topic, partition),
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                "message.timeout.ms": TRANSACTION_TIMEOUT_MS,
                "error_cb": self._on_error,
            }
        )
        # Fences every earlier producer of this partition and aborts what it left open.
        self._producer.init_transactions(READ_TIMEOUT_S)
        self._already, self._next_offset = keys_written(brokers, topic, partition, resume_from)
        if self._already:
            logger.warning(
                "%s: %d postings were committed after the last snapshot (offsets %s to %d); "
                "not sending them again",
                self._where,
                len(self._already),
                "the start" if resume_from is None else resume_from,
                self._next_offset - 1,
                extra=self._log,
            )
        self._pending: list[OutboundRecord] = []  # this epoch's transaction, until committed

    def _on_error(self, error: KafkaError) -> None:
        # Served by the producer's polls and flushes; a fatal one makes `deliver_all` stop
        # waiting for records that will never be delivered.
        if error.fatal():
            self._fatal = KafkaException(error)

    def _on_delivery(self, err: KafkaError | None, message: Message) -> None:
        # A record not delivered fails the commit (abortable): it is sent again with the rest.
        # (A failed delivery's message must not be asked its offset: confluent-kafka raises.)
        if err is not None:
            return
        written_at = message.offset()
        if written_at is not None:
            self._next_offset = max(self._next_offset, written_at + 1)

    def write_batch(self, items: list[OutboundRecord]) -> None:
        fresh = [item for item in items if item.key not in self._already]
        if not fresh:
            return
        if not self._pending:
            self._begin()
        self._pending.extend(fresh)
        self._send(fresh)

    def _send(self, items: list[OutboundRecord]) -> None:
        try:
            for item in items:
                produce(self._producer, item, self._on_delivery, self._partition)
        except CLIENT_FAILURES as exc:
            self._stop_if_fenced(_kafka_error(exc))
            raise

    def snapshot(self) -> int:
        if self._pending:
            self._commit()
        return self._next_offset

    def _commit(self) -> None:
        """Commit this epoch's transaction, riding out the broker; send it again if aborted."""
        started = time.monotonic()
        warn_at = started
        while True:
            # Every record on the broker first, riding out an outage (log lines, metrics).
            left = self._outage_bound - timedelta(seconds=time.monotonic() - started)
            try:
                deliver_all(
                    self._producer, self._step_id, self._flow, max(left, MIN_WAIT),
                    fatal=lambda: self._fatal,
                )  # fmt: skip
            except CLIENT_FAILURES as exc:
                self._stop_if_fenced(_kafka_error(exc))
                raise
            try:
                self._producer.commit_transaction(COMMIT_TIMEOUT_S)
                break
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                self._stop_if_fenced(error)
                waited = time.monotonic() - started
                if waited > self._outage_bound.total_seconds():
                    metrics.POSTINGS_FAILED.labels(self._flow, metrics.NOT_DELIVERED).inc(
                        len(self._pending)
                    )
                    raise RuntimeError(
                        f"{self._where}: {len(self._pending)} postings not committed within "
                        f"{waited:.0f}s (KAFKA_OUTAGE_TIMEOUT_S): {error}"
                    ) from exc
                if time.monotonic() >= warn_at:
                    warn_at = time.monotonic() + WARN_EVERY_S
                    logger.warning(
                        "%s: %d postings not committed yet after %.0fs (%s); retrying up to "
                        "%.0fs (KAFKA_OUTAGE_TIMEOUT_S)",
                        self._where, len(self._pending), waited, error,
                        self._outage_bound.total_seconds(), extra=self._log,
                    )  # fmt: skip
                if error.txn_requires_abort():
                    self._abort()
                    self._begin()
                    self._send(self._pending)
                elif not error.retriable():
                    raise
        if warn_at > started:
            logger.info(
                "%s: %d postings committed after %.0fs",
                self._where, len(self._pending), time.monotonic() - started, extra=self._log,
            )  # fmt: skip
        metrics.EVENTS_OUT.labels(self._flow, self._topic).inc(len(self._pending))
        metrics.postings_committed(
            [item for item in self._pending if isinstance(item, Posting)], time.time()
        )
        self._pending = []

    def _begin(self) -> None:
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            self._stop_if_fenced(exc.args[0])
            raise

    def _abort(self) -> None:
        """Abort the open transaction (the broker gave up on it), riding out the broker."""
        started = time.monotonic()
        while True:
            try:
                self._producer.abort_transaction(COMMIT_TIMEOUT_S)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                self._stop_if_fenced(error)
                if not error.retriable() or (
                    time.monotonic() - started > self._outage_bound.total_seconds()
                ):
                    raise

    def _stop_if_fenced(self, error: KafkaError | None) -> None:
        if error is not None and (error.code() in FENCED or error.fatal()):
            self._fatal = self._fatal or KafkaException(error)
            logger.error(
                "%s: fenced: another process took over these postings (transactional.id %s); "
                "this one stops without committing: %s",
                self._where, transactional_id(self._topic, self._partition), error,
                extra=self._log,
            )  # fmt: skip
            raise RuntimeError(f"{self._where}: fenced by a newer producer: {error}")

    def close(self) -> None:
        if self._fatal is not None:
            # Fenced (a successor owns these postings) or broken: nothing here can be
            # committed, and its records would be waited for in vain.
            logger.warning(
                "%s: closing without committing %d postings: %s",
                self._where, len(self._pending), self._fatal, extra=self._log,
            )  # fmt: skip
            return
        if self._pending:
            self._commit()
        self._producer.flush(COMMIT_TIMEOUT_S)


class PostingsSink(FixedPartitionedSink[OutboundRecord, int]):
    """Produces postings, each to the partition of its key, exactly once across crashes,
    resumes and zombies, in one transaction per epoch and partition.

    Items are `(idempotency key, record)`; the record's key must be that idempotency key.
    """

    def __init__(self, brokers: list[str], topic: str) -> None:
        self._brokers = brokers
        self._topic = topic
        self._partitions: int | None = None
        self._outage_bound = outage_timeout_from_env()

    def _partition_count(self) -> int:
        """The postings topic's partitions, asked of the broker once the flow starts."""
        if self._partitions is None:
            consumer = Consumer(client_config(self._brokers) | {"group.id": "omni-postings"})
            try:
                found = consumer.list_topics(self._topic, timeout=READ_TIMEOUT_S).topics
            finally:
                consumer.close()
            metadata = found[self._topic]
            if metadata.error is not None:
                raise RuntimeError(f"postings topic {self._topic}: {metadata.error}")
            self._partitions = len(metadata.partitions)
        return self._partitions

    def list_parts(self) -> list[str]:
        # Zero-padded so that Bytewax's sorted order is the partition order.
        return [f"{n:05d}" for n in range(self._partition_count())]

    def part_fn(self, item_key: str) -> int:
        return partition_for(item_key.encode(), self._partition_count())

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _PostingsPartition:
        return _PostingsPartition(
            self._brokers, self._topic, int(for_part), resume_state, step_id, self._outage_bound
        )
