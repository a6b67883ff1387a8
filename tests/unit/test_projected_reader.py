"""Availability reads order events through a projection: the same view as reading them whole.

- Every order event of a generated day (every channel and fault) reads, through the projected
  reader, as the view of the whole event, and the view of every field of a large event too.
- Blocks written with their byte size (which fastavro never writes, but Avro allows) are
  skipped by that size; a nested record with a null union is skipped and read right.
- Bytes the projection does not take go the slow way: truncated or trailing bytes give the
  exception record the whole read gives; a record of another writer schema reads whole, then
  is cut down.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, NamedTuple

import pytest
from fastavro import parse_schema, schemaless_writer

from omnichannel.codec import SINGLE_OBJECT_HEADER_LENGTH, AvroCodec
from omnichannel.contracts.avro_compiled import ProjectedReader, Projection, Uncompiled
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.decoding import CanonicalDecoder
from omnichannel.encoding import RecordEncoder
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.availability.order_events import PROJECTION, OrderStockEvent, view_decoder
from operators.routing import route_normalized
from tests.unit.contract_examples import WEB_ORDER_PLACED
from tests.unit.test_bench_hot_path import normalized_day

TOPICS = Topics()
CODEC = AvroCodec(OrderEvent)


def availability_decoder() -> CanonicalDecoder:
    return view_decoder(TOPICS)


def canonical(value: bytes, offset: int = 0) -> RawRecord:
    return RawRecord(TOPICS.canonical_orders, 0, offset, b"k", value, None)


def test_every_order_event_of_a_day_reads_as_the_view_of_the_whole_event() -> None:
    encoder = RecordEncoder()
    decoder = availability_decoder()
    reader = ProjectedReader(OrderEvent, CODEC.schema, PROJECTION, OrderStockEvent)
    events = [e for e in normalized_day() if isinstance(e, OrderEvent)]
    assert len({e.channel for e in events}) == 3
    assert len({e.event_type for e in events}) > 5
    for offset, event in enumerate(events):
        data = encoder.encode(route_normalized(event, TOPICS)).value
        view = reader.read(data, SINGLE_OBJECT_HEADER_LENGTH)
        assert view == OrderStockEvent.of(event)
        assert type(view) is OrderStockEvent
        assert decoder.decode(canonical(data, offset), "availability") == view


class Everything(NamedTuple):
    values: tuple[Any, ...]


def test_projecting_every_field_gives_every_value() -> None:
    # Each field whole, except the records and arrays of records, projected on all of theirs.
    def whole(schema: dict[str, Any]) -> Projection:
        projection: Projection = {}
        for field in schema["fields"]:
            kind = field["type"]
            items = kind.get("items") if isinstance(kind, dict) else None
            if isinstance(items, dict) and items.get("type") == "record":
                projection[field["name"]] = whole(items)
            else:
                projection[field["name"]] = None
        return projection

    projection = whole(CODEC.schema)
    reader = ProjectedReader(OrderEvent, CODEC.schema, projection, lambda *v: Everything(v))
    read = reader.read(CODEC.encode_model(WEB_ORDER_PLACED), SINGLE_OBJECT_HEADER_LENGTH)
    expected = [getattr(WEB_ORDER_PLACED, name) for name in projection]

    def projected(value: Any, fields: Projection) -> tuple[Any, ...]:
        return tuple(
            tuple(projected(v, inner) for v in getattr(value, name))
            if inner
            else getattr(value, name)
            for name, inner in fields.items()
        )

    lines = [projected(line, projection["lines"] or {}) for line in WEB_ORDER_PLACED.lines]
    assert WEB_ORDER_PLACED.lines
    assert WEB_ORDER_PLACED.lines[0].taxes
    assert read.values[list(projection).index("lines")] == tuple(lines)
    for name, value, want in zip(projection, read.values, expected, strict=True):
        if name != "lines" and not isinstance(want, list):
            assert value == want, name


SCHEMA = {
    "type": "record",
    "name": "Parcel",
    "namespace": "test",
    "fields": [
        {"type": {"type": "array", "items": "long"}, "name": "weights"},
        {"type": {"type": "map", "values": "string"}, "name": "labels"},
        {"type": ["null", {"type": "record", "name": "Stop", "fields": [
            {"name": "depot", "type": "string"}, {"name": "at", "type": "long"}]}],
         "name": "stop"},
        {"type": "string", "name": "parcel_id"},
    ],
}  # fmt: skip


def sized_blocks(weights: list[int], labels: dict[str, str]) -> bytes:
    """`weights` and `labels` each as one block with a negative count and its byte size."""

    def long(n: int) -> bytes:
        out = io.BytesIO()
        schemaless_writer(out, parse_schema("long"), n)
        return out.getvalue()

    def string(text: str) -> bytes:
        return long(len(text.encode())) + text.encode()

    body = b"".join(long(w) for w in weights)
    data = long(-len(weights)) + long(len(body)) + body + long(0)
    entries = b"".join(string(k) + string(v) for k, v in labels.items())
    return data + long(-len(labels)) + long(len(entries)) + entries + long(0)


def test_blocks_with_their_byte_size_and_null_unions_are_skipped() -> None:
    from omnichannel.contracts.common import Contract

    class Stop(Contract):
        depot: str
        at: int

    class Parcel(Contract):
        weights: list[int]
        labels: dict[str, str]
        stop: Stop | None
        parcel_id: str

    reader = ProjectedReader(Parcel, SCHEMA, {"parcel_id": None}, lambda parcel_id: parcel_id)
    tail = b"\x00" + b"\x08P-42"  # stop: null, then the id
    assert reader.read(sized_blocks([5, -300, 70_000], {"a": "b", "fragile": "yes"}) + tail, 0) == (
        "P-42"
    )
    with_stop = b"\x02" + b"\x06DC1" + b"\x04" + b"\x08P-43"
    whole_stop = ProjectedReader(Parcel, SCHEMA, {"stop": None, "parcel_id": None},
                                 lambda stop, parcel_id: (stop, parcel_id))  # fmt: skip
    assert whole_stop.read(sized_blocks([1], {"x": "y"}) + with_stop, 0) == (
        Stop(depot="DC1", at=2),
        "P-43",
    )
    with pytest.raises(Uncompiled, match="only records and arrays"):  # a union is read whole
        ProjectedReader(Parcel, SCHEMA, {"stop": {"depot": None}}, tuple)


def test_bytes_the_projection_refuses_give_the_whole_read_s_exception_record() -> None:
    decoder = availability_decoder()
    plain = CanonicalDecoder(TOPICS)
    data = CODEC.encode_model(WEB_ORDER_PLACED)
    for broken in (data[:-7], data + b"\x00", data[:12]):
        got = decoder.decode(canonical(broken), "availability")
        assert isinstance(got, ExceptionRecord)
        assert got.reason is ExceptionReason.INVALID_PAYLOAD
        assert got.raw_value == broken
        whole = plain.decode(canonical(broken), "availability")
        assert isinstance(whole, ExceptionRecord)
        assert whole.message == got.message


def test_a_record_the_projection_does_not_take_is_read_whole_and_cut_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: ProjectedReader, data: bytes, start: int) -> Any:
        raise Uncompiled("not for the projection")

    monkeypatch.setattr(ProjectedReader, "read", refuse)
    decoder = availability_decoder()
    got = decoder.decode(canonical(CODEC.encode_model(WEB_ORDER_PLACED)), "availability")
    assert got == OrderStockEvent.of(WEB_ORDER_PLACED)
    assert type(got) is OrderStockEvent
    unknown_writer = CODEC.encode_model(WEB_ORDER_PLACED)[:2] + bytes(8) + b"\x00"
    refused = decoder.decode(canonical(unknown_writer), "availability")
    assert isinstance(refused, ExceptionRecord)
    assert "unknown schema" in refused.message


def test_a_projection_of_a_field_the_schema_lacks_is_refused_at_start() -> None:
    with pytest.raises(Uncompiled, match="no field"):
        ProjectedReader(OrderEvent, CODEC.schema, {"price": None}, tuple)


def test_views_and_stock_changes_pickle_as_plain_values_and_come_back_equal() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from omnichannel.contracts.common import Channel
    from operators.availability.stock_changes import StockCount, StockDelta

    views = [OrderStockEvent.of(e) for e in normalized_day() if isinstance(e, OrderEvent)]
    when = datetime(2026, 11, 27, 23, 59, 59, 999_999, tzinfo=UTC)
    in_new_york = when.astimezone(timezone(timedelta(hours=-5)))
    changes = [
        StockDelta("SKU-1", "DC-EAST", -2, 1, when, Channel.MARKETPLACE, "O-1", 1),
        StockDelta("SKU-1", "DC-EAST", 5, 0, in_new_york, movement_id="M-9"),
        StockCount("SKU-1", "S-014", 7, datetime(1969, 12, 31, 23, 0, tzinfo=UTC)),
    ]
    for item in [*views, *changes]:
        data = pickle.dumps(item)
        assert b"datetime" not in data  # an instant crosses as a number
        back = pickle.loads(data)
        assert back == item
        assert type(back) is type(item)
        assert back.event_time.tzinfo is UTC
        assert back.event_time == item.event_time
    assert type(pickle.loads(pickle.dumps(views[0])).channel) is Channel


def test_a_view_moves_the_watermark_as_the_whole_event_does() -> None:
    """The view keeps where its event was read, so the flow reading views settles event time
    (a view without its source would hold the watermark back for good)."""
    from operators.availability.steps import _observed
    from operators.watermark import Watermark

    event = WEB_ORDER_PLACED
    view = availability_decoder().decode(canonical(CODEC.encode_model(event)), "availability")
    assert isinstance(view, OrderStockEvent)
    source = event.source
    assert view.source == (source.topic, source.partition, source.offset)
    ends = {(source.topic, source.partition): (0, source.offset + 2)}  # one more to read
    by_view, by_event = Watermark(), Watermark()
    for watermark, item in ((by_view, view), (by_event, event)):
        watermark.learn_ends(ends)
        assert watermark.value() is None
        assert _observed(watermark, item) is item
    assert by_view.value() == by_event.value() == event.event_time
