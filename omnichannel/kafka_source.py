"""Bytewax's Kafka source, polled without waiting on an empty partition: normalization's input.

Bytewax 0.21's source asks each partition's consumer for a batch with a 1 ms timeout. A
worker reading 20 partitions (normalization's five inputs at 4 partitions each) so spends up
to 20 ms per pass over them whenever few records arrive, and a record waits for that pass.
Here a partition is asked without waiting, and one that had nothing tells Bytewax to come
back after `IDLE_POLL`; the worker parks until the first partition is due. Offsets,
snapshots, errors and end of input are Bytewax's own: its partition does the reading.

Measured (`python -m omnichannel.bench latency --flows normalization|availability`): input to
canonical record at 500 events/s, p50 31 ms and p99 55 ms before, 11 and 17 ms with it; at
5,000 events/s beside availability, p50 92 and p99 254 ms before, 15 and 45 ms with it. An
idle normalization costs about 2% of a core more. The canonical topics' readers (availability,
finance) keep Bytewax's source: their input already comes in bursts of a normalization batch,
and with this source their batches got smaller, each paying its own Kafka and Redis round
trips, and availability's updates came later (p99 0.9 s before, 2.1 s with it).

`consume` is `bytewax.connectors.kafka.operators.input` with this source, and the same inner
step ids (`<step>.kafka_input`), so recovery state written by either resumes with the other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.connectors.kafka.operators import KafkaOpOut
from bytewax.dataflow import Dataflow, operator
from bytewax.inputs import StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING

# How long an empty partition is left alone: the most a record can wait to be read when it
# arrives on an idle partition, and what an idle worker costs (a pass over its partitions).
IDLE_POLL = timedelta(milliseconds=10)

Message = KafkaSourceMessage[bytes | None, bytes | None]
Error = KafkaError[bytes | None, bytes | None]
Item = Message | Error


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

    def __init__(self, inner: Any) -> None:
        # Bytewax 0.21.1's partition keeps its consumer in `_consumer`, asked only by `consume`.
        inner._consumer = _WithoutWaiting(inner._consumer)
        self._inner = inner
        self._awake: datetime | None = None

    def next_batch(self) -> list[Item]:
        batch: list[Item] = self._inner.next_batch()
        self._awake = None if batch else datetime.now(UTC) + IDLE_POLL
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> int | None:
        offset: int | None = self._inner.snapshot()
        return offset

    def close(self) -> None:
        self._inner.close()


class PromptKafkaSource(KafkaSource):
    """`KafkaSource` whose partitions do not wait on an empty consumer."""

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _PromptPartition:  # type: ignore[override]
        return _PromptPartition(super().build_part(step_id, for_part, resume_state))


@operator
def consume(
    step_id: str,
    flow: Dataflow,
    *,
    brokers: list[str],
    topics: list[str],
    tail: bool,
    add_config: dict[str, str],
) -> KafkaOpOut[
    KafkaSourceMessage[bytes | None, bytes | None], KafkaError[bytes | None, bytes | None]
]:
    """Records of `topics` from the beginning (or the resumed offsets), and consumer errors."""
    source = PromptKafkaSource(brokers, topics, tail, OFFSET_BEGINNING, add_config,
                               raise_on_errors=False)  # fmt: skip
    read = op.input("kafka_input", flow, source)
    split = op.branch("split_err", read, lambda item: isinstance(item, KafkaSourceMessage))
    return KafkaOpOut(split.trues, split.falses)  # type: ignore[arg-type]
