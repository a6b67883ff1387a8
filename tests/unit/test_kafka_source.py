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
