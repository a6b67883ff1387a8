"""Normalization's Kafka source asks without waiting and parks an empty partition briefly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow

from omnichannel.kafka_source import (
    IDLE_POLL,
    IDLE_POLL_SETTING,
    _PromptPartition,
    consume,
    idle_poll_from_env,
)
from omnichannel.settings import SettingError


class Consumer:
    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches
        self.timeouts: list[float] = []

    def consume(self, num_messages: int, timeout: float) -> list[str]:
        self.timeouts.append(timeout)
        return self.batches.pop(0)

    def close(self) -> None:
        self.closed = True


class BytewaxPartition:
    """What Bytewax's partition does with its consumer: asks it with a 1 ms timeout."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer: Any = consumer

    def next_batch(self) -> list[str]:
        return list(self._consumer.consume(1000, 0.001))

    def snapshot(self) -> int:
        return 42

    def close(self) -> None:
        self._consumer.close()


def test_a_partition_is_asked_without_waiting_and_left_alone_briefly_when_empty() -> None:
    consumer = Consumer([["a", "b"], [], ["c"]])
    partition = _PromptPartition(BytewaxPartition(consumer))

    assert partition.next_batch() == ["a", "b"]
    assert partition.next_awake() is None  # more may be waiting: ask again at once
    before = datetime.now(UTC)
    assert partition.next_batch() == []
    awake = partition.next_awake()
    assert awake is not None
    assert before + IDLE_POLL <= awake <= datetime.now(UTC) + IDLE_POLL
    assert partition.next_batch() == ["c"]
    assert consumer.timeouts == [0, 0, 0]
    assert partition.snapshot() == 42
    partition.close()
    assert consumer.closed


def test_its_step_ids_are_those_of_bytewax_s_kafka_input() -> None:
    # Recovery keys a source's offsets by step id: either operator resumes the other's.
    ours, theirs = Dataflow("flow"), Dataflow("flow")
    consume("consume", ours, brokers=["b:9092"], topics=["t"], tail=True, add_config={},
            idle_poll=IDLE_POLL)  # fmt: skip
    kop.input("consume", theirs, brokers=["b:9092"], topics=["t"])

    def input_ids(flow: Dataflow) -> list[str]:
        found: list[str] = []

        def walk(step: Any) -> None:
            if type(step).__name__ == "_InputOp" or step.step_id.endswith("kafka_input"):
                found.append(step.step_id)
            for inner in getattr(step, "substeps", []):
                walk(inner)

        for step in flow.substeps:
            walk(step)
        return found

    assert input_ids(ours) == input_ids(theirs) == ["flow.consume.kafka_input"]


def test_the_prompt_source_is_opt_in_and_a_bad_setting_is_named() -> None:
    assert idle_poll_from_env({}) is None
    assert idle_poll_from_env({IDLE_POLL_SETTING: "0"}) is None
    assert idle_poll_from_env({IDLE_POLL_SETTING: "10"}) == IDLE_POLL
    for bad in ("-1", "ten", "5000"):
        with pytest.raises(SettingError, match=IDLE_POLL_SETTING):
            idle_poll_from_env({IDLE_POLL_SETTING: bad})


def test_a_partition_is_looked_at_only_after_a_run_of_empty_passes_as_long_as_the_wait() -> None:
    from omnichannel.kafka_source import StallWatch

    watch = StallWatch(15)
    watch.passed(False, 100.0)
    assert not watch.due(114.9)
    watch.passed(False, 110.0)  # still the same run: it started at 100
    assert watch.due(115.0)
    watch.passed(True, 115.0)  # records came: no longer idle
    assert not watch.due(1_000.0)
    # A worker held elsewhere for a minute finds its prefetched records first: not idle.
    watch.passed(True, 175.0)
    assert not watch.due(175.0)


def test_a_partition_with_records_after_its_position_is_stuck_one_at_its_end_is_not() -> None:
    from omnichannel.kafka_source import StallWatch

    watch = StallWatch(15)
    watch.passed(False, 0.0)
    assert watch.stuck(position=40, first=0, end=41, now=15.0)
    assert not watch.due(29.9)
    assert watch.due(30.0)
    # Found at the same position again: the wait doubles, each time (a read_committed reader
    # can stand one short of the end for good: the last transaction's marker).
    assert watch.stuck(position=40, first=0, end=41, now=30.0)
    assert not watch.due(59.9)
    assert watch.due(60.0)
    assert watch.stuck(position=40, first=0, end=41, now=60.0)
    assert not watch.due(119.9)
    assert watch.due(120.0)
    # Caught up: not stuck, and looked at again after the plain wait.
    assert not watch.stuck(position=41, first=0, end=41, now=120.0)
    assert watch.due(135.0)
    # Nothing read yet (a logical position): stuck when the partition holds any record.
    assert not StallWatch(15).stuck(position=-2, first=7, end=7, now=0.0)
    assert StallWatch(15).stuck(position=-2, first=7, end=8, now=0.0)


def test_the_stall_wait_is_a_setting_checked_at_start() -> None:
    from omnichannel.kafka_source import DEFAULT_STALL_S, stall_from_env

    assert stall_from_env({}) == DEFAULT_STALL_S
    assert stall_from_env({"SOURCE_STALL_S": "60"}) == 60
    with pytest.raises(SettingError, match="SOURCE_STALL_S"):
        stall_from_env({"SOURCE_STALL_S": "1"})
