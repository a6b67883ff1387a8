"""Small stream operators the dataflows share."""

from __future__ import annotations

from typing import TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

T = TypeVar("T")


@operator
def only(step_id: str, up: Stream[object], kind: type[T]) -> Stream[T]:
    """The items of the stream that are of one type (a canonical event kind, say)."""
    return op.filter_map("filter", up, lambda item: item if isinstance(item, kind) else None)
