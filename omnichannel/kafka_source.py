"""Bytewax's Kafka source, polled without waiting on an empty partition: for normalization,
opt-in (`NORMALIZE_IDLE_POLL_MS`).

Bytewax 0.21's source asks each partition's consumer for a batch with a 1 ms timeout. A
worker reading 20 partitions (normalization's five inputs at 4 partitions each) so spends up
to 20 ms per pass over them whenever few records arrive, and a record waits for that pass.
Here a partition is asked without waiting, and one that had nothing tells Bytewax to come
back after the idle poll; the worker parks until the first partition is due. Offsets,
snapshots, errors and end of input are Bytewax's own: its partition does the reading.

Measured (`python -m omnichannel.bench latency --flows normalization|availability`, 10 ms):
input to canonical record at 500 events/s, p50 31 and p99 55 ms with Bytewax's source, 11 and
17 ms with this one. But it costs normalization about 10% more CPU under load (its batches are
smaller), and on a 2-core machine that shares the broker that CPU came out of availability:
at 5,000 events/s, availability's updates came later (60 s run, no coalescing: p50 235 ms and
p99 823 ms before, 1.8 s and 4.4 s with it). So it is off by default: turn it on where
normalization has cores of its own and its latency matters. The canonical topics' readers
(availability, finance) always keep Bytewax's source: their batches got smaller with this one.

Every partition is watched for a stall: librdkafka's consumer, assigned a partition (as
Bytewax's is), can stop fetching it after the broker restarts, for good, without an error
(confluentinc/librdkafka#5153, open; seen here in the outage test: a normalization partition
whose 758 newest records never came). A partition that has given nothing for `SOURCE_STALL_S`
(default 15) while the broker holds records after its position is read anew from that position
through a new consumer, with a warning and `omni_source_stalls_total`; looked at again after
twice the wait each time it is found at the same position (a read_committed reader's position
can stop one short of the end: the last transaction's marker takes an offset). Where the
partition ends is asked of a client of its own: the first version of this watch asked the
stalled consumer and re-assigned it, and one run still lost a settlement report that arrived
as the broker came back, without a word from the watch (not explained: a stuck consumer
failing to answer too would fit).

`consume` is `bytewax.connectors.kafka.operators.input` with this source, and the same inner
step ids (`<step>.kafka_input`), so recovery state written by either resumes with the other.
It is every flow's Kafka source, and it stops the flow rather than skip records: a resumed
position the broker no longer holds (retention or DeleteRecords took the records, or the topic
was made anew) comes as an error (`auto.offset.reset=error`, `kafka_settings.source_config`),
where librdkafka's default would jump to the end of the partition without a word. The broker's
own errors (a lost connection) pass on to the flow's log: librdkafka rides them out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.connectors.kafka.operators import KafkaOpOut
from bytewax.dataflow import Dataflow, operator
from bytewax.inputs import StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as ClientError

from omnichannel import metrics
from omnichannel.settings import SettingError, env_int

logger = logging.getLogger(__name__)

# How long an empty partition is left alone (`NORMALIZE_IDLE_POLL_MS`): the most a record can
# wait to be read when it arrives on an idle partition; shorter costs an idle worker more.
IDLE_POLL_SETTING = "NORMALIZE_IDLE_POLL_MS"
IDLE_POLL = timedelta(milliseconds=10)


def idle_poll_from_env(env: Mapping[str, str] | None = None) -> timedelta | None:
    """`NORMALIZE_IDLE_POLL_MS`: 0 or unset, Bytewax's own source (None); N, this one."""
    millis = env_int(IDLE_POLL_SETTING, 0, env)
    if not 0 <= millis <= 1000:
        raise SettingError(f"{IDLE_POLL_SETTING} must be 0 to 1000 (ms), got {millis}")
    return timedelta(milliseconds=millis) if millis else None


STALL_SETTING = "SOURCE_STALL_S"
DEFAULT_STALL_S = 15
MAX_STALL_BACKOFF_S = 600.0
# How long asking the broker for a partition's end may hold the worker (only when it is idle).
ENDS_TIMEOUT_S = 1.0


def stall_from_env(env: Mapping[str, str] | None = None) -> float:
    """`SOURCE_STALL_S`: how long a partition with records waiting may fetch none."""
    seconds = env_int(STALL_SETTING, DEFAULT_STALL_S, env)
    if not 5 <= seconds <= 3600:
        raise SettingError(f"{STALL_SETTING} must be 5 to 3600 (seconds), got {seconds}")
    return float(seconds)


Message = KafkaSourceMessage[bytes | None, bytes | None]
Error = KafkaError[bytes | None, bytes | None]
Item = Message | Error

# A position the broker does not hold: with `auto.offset.reset=error` librdkafka reports it as
# _AUTO_OFFSET_RESET and stops fetching the partition; OFFSET_OUT_OF_RANGE is the broker's own
# answer, which some of librdkafka's paths pass on as it is.
OFFSET_LOST = frozenset({ClientError._AUTO_OFFSET_RESET, ClientError.OFFSET_OUT_OF_RANGE})


def skips_records(error: ClientError) -> bool:
    """Whether a flow going on past this consumer error would skip records: its position is
    not on the broker, or the consumer is unusable (a fatal error). Anything else is the
    broker's to get over (a lost connection, a leader moving), and librdkafka retries it."""
    return bool(error.code() in OFFSET_LOST or error.fatal())


def stop_rather_than_skip(step_id: str, error: Item) -> None:
    """Stop the flow on a consumer error that would skip records, naming the topic, partition
    and offset; any other error (or record) passes."""
    if isinstance(error, KafkaSourceMessage) or not skips_records(error.err):
        return
    topic, partition, offset = error.msg.topic, error.msg.partition, error.msg.offset
    where = f"{topic}[{partition}] offset {offset}" if topic else "the consumer"
    if error.err.code() in OFFSET_LOST:
        why = (
            "the broker does not hold that offset: records from there were deleted "
            "(retention, DeleteRecords) before the flow read them, or the topic was made anew"
        )
    else:
        why = "the consumer cannot go on"
    logger.error(
        "%s: %s: %s (%s); the flow stops rather than skip records",
        step_id, where, why, error.err.str(),
        extra={"step": step_id, "topic": topic, "partition": partition, "offset": offset},
    )  # fmt: skip
    raise RuntimeError(
        f"{step_id}: {where}: {why} ({error.err.str()}); the flow stops rather than skip records"
    )


class _WithoutWaiting:
    """A consumer whose `consume` never waits: what is already fetched, or nothing."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        return list(self._consumer.consume(num_messages, 0))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


class _PromptPartition(StatefulSourcePartition[Item, int | None]):
    """Bytewax's partition, asked without waiting, and left alone for a moment when empty."""

    def __init__(self, inner: Any, idle_poll: timedelta = IDLE_POLL) -> None:
        # Bytewax 0.21.1's partition keeps its consumer in `_consumer`, asked only by `consume`.
        inner._consumer = _WithoutWaiting(inner._consumer)
        self._inner = inner
        self._idle_poll = idle_poll
        self._awake: datetime | None = None

    def next_batch(self) -> list[Item]:
        batch: list[Item] = self._inner.next_batch()
        self._awake = None if batch else datetime.now(UTC) + self._idle_poll
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> int | None:
        offset: int | None = self._inner.snapshot()
        return offset

    def close(self) -> None:
        self._inner.close()


class StallWatch:
    """When a partition that gives nothing should be looked at, and what to do if it is stuck.

    Pure: `idle` is told each empty or non-empty pass, with the time; `due` says whether to
    ask the broker now; `stuck` takes the broker's answer and says whether to assign again.
    """

    def __init__(self, stall_s: float) -> None:
        self._stall_s = stall_s
        self._empty_since: float | None = None
        self._check_at: float | None = None
        self._wait = stall_s
        self._stuck_at: int | None = None  # the position found stuck last

    def passed(self, got_records: bool, now: float) -> None:
        if got_records:
            self._empty_since = self._check_at = self._stuck_at = None
            self._wait = self._stall_s
        elif self._empty_since is None:
            # A run of empty passes starts: a worker that was held elsewhere (a sink waiting
            # for the broker) finds its prefetched records first, and is not counted idle.
            self._empty_since = now
            self._check_at = now + self._wait

    def due(self, now: float) -> bool:
        return self._check_at is not None and now >= self._check_at

    def later(self, now: float) -> None:
        """Look again after another wait (caught up, or the broker could not say)."""
        self._check_at = now + self._stall_s

    def stuck(self, position: int, first: int, end: int, now: float) -> bool:
        """`position`: the next offset to read (negative: none read yet, from `first`); the
        partition holds records up to `end` (exclusive)."""
        start = position if position >= 0 else first
        if end <= start:
            self.later(now)  # caught up: nothing is waiting
            return False
        if self._stuck_at == position:
            self._wait = min(self._wait * 2, MAX_STALL_BACKOFF_S)
        self._stuck_at = position
        self._check_at = now + self._wait
        return True


# Builds Bytewax's partition from a resume offset: (the partition to read through, Bytewax's own
# partition inside it, with its consumer, topic, partition and next offset).
Build = Callable[[int | None], tuple[StatefulSourcePartition[Item, int | None], Any]]
Ends = Callable[[TopicPartition], tuple[int, int]]


class _WatchedPartition(StatefulSourcePartition[Item, int | None]):
    """A source partition read through a new consumer when it stalls with records waiting.

    Where the partition ends is asked of another client than the consumer that stalled (a
    consumer stuck on its connection can fail to answer too), and the stalled consumer is
    closed and replaced by a new one at its position: nothing of its state is kept.
    """

    def __init__(
        self,
        build: Build,
        resume_state: int | None,
        step_id: str,
        stall_s: float,
        ends: Ends,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build = build
        self._inner, self._reader = build(resume_state)
        self._step_id = step_id
        self._flow = step_id.partition(".")[0]
        self._watch = StallWatch(stall_s)
        self._stall_s = stall_s
        self._ends = ends
        self._clock = clock
        self._where = TopicPartition(self._reader._topic, self._reader._part_idx)

    def next_batch(self) -> list[Item]:
        batch = list(self._inner.next_batch())
        now = self._clock()
        self._watch.passed(bool(batch), now)
        if not batch and self._watch.due(now):
            self._look(now)
        return batch

    def _look(self, now: float) -> None:
        try:
            first, end = self._ends(self._where)
        except KafkaException as exc:
            logger.debug("%s: cannot ask where %s ends: %s", self._step_id, self._where, exc)
            self._watch.later(now)
            return
        position: int = self._reader._offset
        if not self._watch.stuck(position, first, end, now):
            return
        topic, partition = self._where.topic, self._where.partition
        logger.warning(
            "%s: %s[%d] gave no records for %.0fs while the broker holds offsets up to %d "
            "after %s: reading it through a new consumer from there",
            self._step_id, topic, partition, self._stall_s, end - 1,
            position if position >= 0 else "the start",
            extra={"step": self._step_id, "topic": topic, "partition": partition},
        )  # fmt: skip
        metrics.SOURCE_STALLS.labels(self._flow, topic).inc()
        self._inner.close()
        self._inner, self._reader = self._build(position if position >= 0 else None)

    def next_awake(self) -> datetime | None:
        awake: datetime | None = self._inner.next_awake()
        return awake

    def snapshot(self) -> int | None:
        offset: int | None = self._inner.snapshot()
        return offset

    def close(self) -> None:
        self._inner.close()


class _EndsClient:
    """One client per source, shared by its partitions, that asks where partitions end."""

    def __init__(self, brokers: Iterable[str], add_config: Mapping[str, Any]) -> None:
        self._config = {
            **add_config,
            "bootstrap.servers": ",".join(brokers),
            "group.id": "omni-source-ends",
            "enable.auto.commit": "false",
        }
        self._lock = threading.Lock()
        self._consumer: Consumer | None = None

    def __call__(self, where: TopicPartition) -> tuple[int, int]:
        with self._lock:
            if self._consumer is None:
                self._consumer = Consumer(self._config)
            consumer = self._consumer
        first, end = consumer.get_watermark_offsets(where, timeout=ENDS_TIMEOUT_S, cached=False)
        return int(first), int(end)


class WatchedKafkaSource(KafkaSource):
    """Bytewax's `KafkaSource` whose partitions are read anew when they stall."""

    stall_s = float(DEFAULT_STALL_S)
    # Told of every partition this process reads and the offset it resumes from (a watermark
    # that must hold while one of them has records not read: `operators.watermark`).
    on_claim: Callable[[tuple[str, int], int | None], None] | None = None

    def _ends(self) -> _EndsClient:
        client: _EndsClient | None = getattr(self, "_ends_client", None)
        if client is None:
            client = self._ends_client = _EndsClient(self._brokers, self._add_config)
        return client

    def _built(self, step_id: str, for_part: str) -> Build:
        def build(
            resume_state: int | None,
        ) -> tuple[StatefulSourcePartition[Item, int | None], Any]:
            part = KafkaSource.build_part(self, step_id, for_part, resume_state)
            return part, part

        return build

    def build_part(  # type: ignore[override]
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _WatchedPartition:
        if self.on_claim is not None:
            index, topic = for_part.split("-", 1)
            self.on_claim((topic, int(index)), resume_state)
        return _WatchedPartition(
            self._built(step_id, for_part), resume_state, step_id, self.stall_s, self._ends()
        )


class PromptKafkaSource(WatchedKafkaSource):
    """`KafkaSource` whose partitions do not wait on an empty consumer (and are watched)."""

    idle_poll = IDLE_POLL

    def _built(self, step_id: str, for_part: str) -> Build:
        def build(
            resume_state: int | None,
        ) -> tuple[StatefulSourcePartition[Item, int | None], Any]:
            part = KafkaSource.build_part(self, step_id, for_part, resume_state)
            return _PromptPartition(part, self.idle_poll), part

        return build


@operator
def consume(
    step_id: str,
    flow: Dataflow,
    *,
    brokers: list[str],
    topics: list[str],
    tail: bool,
    add_config: dict[str, str],
    idle_poll: timedelta | None = None,
    on_claim: Callable[[tuple[str, int], int | None], None] | None = None,
) -> KafkaOpOut[Message, Error]:
    """Records of `topics` from the beginning (or the resumed offsets), and the consumer errors
    the flow rides out: through `PromptKafkaSource` with `idle_poll`, else through Bytewax's own
    source. An error that would skip records stops the flow (`stop_rather_than_skip`)."""
    source: KafkaSource
    if idle_poll is None:
        source = WatchedKafkaSource(brokers, topics, tail, OFFSET_BEGINNING, add_config,
                                    raise_on_errors=False)  # fmt: skip
        source.stall_s = stall_from_env()
    else:
        source = PromptKafkaSource(brokers, topics, tail, OFFSET_BEGINNING, add_config,
                                   raise_on_errors=False)  # fmt: skip
        source.idle_poll = idle_poll
        source.stall_s = stall_from_env()
    source.on_claim = on_claim
    read = op.input("kafka_input", flow, source)
    split = op.branch("split_err", read, lambda item: isinstance(item, KafkaSourceMessage))
    errors = op.inspect("stop_rather_than_skip", split.falses, stop_rather_than_skip)
    return KafkaOpOut(split.trues, errors)  # type: ignore[arg-type]
