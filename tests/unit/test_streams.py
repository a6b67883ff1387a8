"""The small stream operators: `stateful_batches` resumes what `op.stateful` snapshotted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulBatchLogic, StatefulLogic
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.streams import stateful_batches


class _SumBatches(StatefulBatchLogic[int, int, int]):
    def __init__(self, state: int | None) -> None:
        self.state = state or 0

    def on_batch(self, values: list[int]) -> tuple[Iterable[int], bool]:
        self.state += sum(values)
        return [self.state], StatefulBatchLogic.RETAIN

    def snapshot(self) -> int:
        return self.state


class _SumItems(StatefulLogic[int, int, int]):
    def __init__(self, state: int | None) -> None:
        self.state = state or 0

    def on_item(self, value: int) -> tuple[Iterable[int], bool]:
        self.state += value
        return [self.state], StatefulLogic.RETAIN

    def snapshot(self) -> int:
        return self.state


def core_step_ids(flow: Dataflow) -> list[str]:
    found: list[str] = []

    def walk(step: Any) -> None:
        substeps = getattr(step, "substeps", [])
        if not substeps:
            found.append(step.step_id)
        for inner in substeps:
            walk(inner)

    for step in flow.substeps:
        walk(step)
    return found


def test_its_core_step_is_the_one_op_stateful_snapshots_under() -> None:
    # Recovery keys a stateful step's snapshots by the id of its core step.
    ours, theirs = Dataflow("flow"), Dataflow("flow")
    for flow, stateful in ((ours, stateful_batches), (theirs, op.stateful)):
        keyed = op.input("in", flow, TestingSource([("a", 1)]))
        builder = _SumBatches if flow is ours else _SumItems
        op.output("out", stateful("sum", keyed, builder), TestingSink([]))  # type: ignore[operator]
    assert core_step_ids(ours) == core_step_ids(theirs)
    assert "flow.sum.stateful_batch" in core_step_ids(ours)


def test_a_key_s_values_of_a_batch_come_in_one_call() -> None:
    flow = Dataflow("sums")
    items = [("a", 1), ("b", 2), ("a", 3)]
    keyed = op.input("in", flow, TestingSource(items, batch_size=3))
    out: list[tuple[str, int]] = []
    op.output("out", stateful_batches("sum", keyed, _SumBatches), TestingSink(out))
    run_main(flow)
    assert sorted(out) == [("a", 4), ("b", 2)]
