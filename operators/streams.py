"""Small stream operators the dataflows share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream, StatefulBatchLogic

T = TypeVar("T")
V = TypeVar("V")
W = TypeVar("W")
S = TypeVar("S")


@operator
def only(step_id: str, up: Stream[object], kind: type[T]) -> Stream[T]:
    """The items of the stream that are of one type (a canonical event kind, say), a batch at a
    time: one Python call per batch, not one per item."""
    return op.flat_map_batch(
        "flat_map_batch", up, lambda batch: [item for item in batch if isinstance(item, kind)]
    )


@operator
def keyed(step_id: str, up: Stream[V], key: Callable[[V], str]) -> KeyedStream[V]:
    """`op.key_on`, a batch at a time."""
    return op.flat_map_batch("flat_map_batch", up, lambda batch: [(key(v), v) for v in batch])


@operator
def unkeyed(step_id: str, up: KeyedStream[V]) -> Stream[V]:
    """The values of a keyed stream, a batch at a time."""
    return op.flat_map_batch("flat_map_batch", up, lambda batch: [value for _, value in batch])


@operator
def mapped(step_id: str, up: Stream[V], mapper: Callable[[V], W]) -> Stream[W]:
    """`op.map`, a batch at a time."""
    return op.flat_map_batch("flat_map_batch", up, lambda batch: [mapper(v) for v in batch])


@operator
def stateful_batches(
    step_id: str,
    up: KeyedStream[V],
    builder: Callable[[S | None], StatefulBatchLogic[V, W, S]],
) -> KeyedStream[W]:
    """`op.stateful_batch` under the step id `op.stateful` gives its inner step: a logic that
    takes each key's values of a batch in one call resumes the snapshots that `op.stateful`
    took under `<step_id>.stateful_batch`."""
    return op.stateful_batch("stateful_batch", up, builder)
