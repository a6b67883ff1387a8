"""The file edge, piece by piece: replay lines into raw records, routed records into Avro files.

The source and sink partitions are driven by calling their methods, as Bytewax would; the flow
tests are in `test_file_io_flow.py`.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import avro.datafile
import avro.io
import pytest

from omnichannel.codec import to_avro_record
from omnichannel.contracts.common import Contract
from omnichannel.file_sink import AvroFilePosition, AvroFilesSink, read_avro_file
from omnichannel.file_source import (
    JsonLinesSource,
    TimeOrderedJsonLinesSource,
    raw_record_from_line,
)
from operators.adapters.raw import RawRecord
from operators.routing import Routed
from tests.unit.channel_examples import POS_SALE, WEB_ORDER
from tests.unit.contract_examples import (
    EXAMPLES,
    POS_SALE_INVOICE,
    RECEIPT_MOVEMENT,
    UNKNOWN_EAN_EXCEPTION,
    WEB_ORDER_PLACED,
)


def replay_line(key: str | None, value: Any, timestamp: int | None = 1_795_000_000_000) -> bytes:
    """A replay line as a person would write it: `json.dumps` with its default spacing."""
    return json.dumps({"key": key, "value": value, "timestamp": timestamp}).encode() + b"\n"


def write_topic(folder: Path, topic: str, lines: list[bytes]) -> Path:
    path = folder / f"{topic}.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def read_with_apache_avro(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as file, avro.datafile.DataFileReader(file, avro.io.DatumReader()) as rd:
        return list(rd)


def drain(partition: Any) -> list[RawRecord]:
    records: list[RawRecord] = []
    while True:
        try:
            records.extend(partition.next_batch())
        except StopIteration:
            return records


# The source: one replay line, one raw record.


def test_a_line_becomes_the_record_a_single_partition_topic_would_give() -> None:
    line = replay_line("820982911946154508", WEB_ORDER, 1_795_000_000_123)
    raw = raw_record_from_line("orders.web", 41, line)
    assert raw == RawRecord(
        topic="orders.web",
        partition=0,
        offset=41,
        key=b"820982911946154508",
        value=json.dumps(WEB_ORDER, separators=(",", ":")).encode(),
        timestamp_ms=1_795_000_000_123,
    )
    assert b'"price":"29.99"' in raw.value


def test_numbers_are_copied_as_written_never_through_a_float() -> None:
    value = (
        b'{"price": 29.99, "rate": 0.08875, "trailing_zero": 2.50, "tiny": 1e-7, "huge": 1E400,'
        b' "negative_zero": -0.0, "id": 820982911946154508, "lines": [{"amount": 19.990}],'
        b' "not_json_but_kept": NaN}'
    )
    line = b'{"key": "k", "value": ' + value + b', "timestamp": 5}\n'
    raw = raw_record_from_line("orders.web", 0, line)
    assert raw.value == (
        b'{"price":29.99,"rate":0.08875,"trailing_zero":2.50,"tiny":1e-7,"huge":1E400,'
        b'"negative_zero":-0.0,"id":820982911946154508,"lines":[{"amount":19.990}],'
        b'"not_json_but_kept":NaN}'
    )


def test_text_stays_utf8_whether_written_escaped_or_not() -> None:
    escaped = raw_record_from_line("t", 0, b'{"key": "k", "value": {"city": "M\\u00fcnchen"}}')
    literal = raw_record_from_line("t", 1, '{"key": "k", "value": {"city": "München"}}'.encode())
    assert escaped.value == literal.value == '{"city":"München"}'.encode()


def test_value_b64_is_the_payload_byte_for_byte() -> None:
    payload = b'{"type": "SALE", "total": 19.99,\xff'
    line = json.dumps({"key": "S-014:88121", "value_b64": base64.b64encode(payload).decode()})
    raw = raw_record_from_line("orders.pos", 3, line.encode() + b"\n")
    assert (raw.key, raw.value, raw.offset, raw.timestamp_ms) == (b"S-014:88121", payload, 3, None)


def test_key_and_timestamp_may_be_missing_or_null() -> None:
    raw = raw_record_from_line("inventory.movements", 0, b'{"value": {"sku": "SKU-1001"}}\r\n')
    assert (raw.key, raw.value, raw.timestamp_ms) == (None, b'{"sku":"SKU-1001"}', None)
    assert raw_record_from_line("t", 0, replay_line(None, {}, None)).key is None


@pytest.mark.parametrize(
    "line",
    [
        b"this is not JSON",
        b'{"key": "k", "value": {"a": 1}',
        b"",
        b'["key", "value"]',
        b'{"key": "k", "timestamp": 1}',
        b'{"key": "k", "value": {}, "value_b64": "e30=", "timestamp": 1}',
        b'{"key": 42, "value": {}, "timestamp": 1}',
        b'{"key": "k", "value": {}, "timestamp": "2026-11-27T08:15:02Z"}',
        b'{"key": "k", "value": {}, "timestamp": 1.5e12}',
        b'{"key": "k", "value": {}, "timestamp": true}',
        b'{"key": "k", "value_b64": "not base64!", "timestamp": 1}',
        b'{"key": "k", "value_b64": 7, "timestamp": 1}',
        b'{"key": "\xff", "value": {}}',
        b'{"key": "k", "value": ' + b"[" * 100_000,
    ],
    ids=lambda line: repr(line[:40]),
)
def test_a_line_that_is_not_a_replay_record_is_kept_whole_for_the_exception_topic(
    line: bytes,
) -> None:
    raw = raw_record_from_line("orders.web", 9, line + b"\n")
    assert raw == RawRecord(topic="orders.web", partition=0, offset=9, key=None, value=line)


def test_the_folder_must_exist_and_hold_a_topic_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-day"
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"replay folder {missing} does not exist")
    ):
        JsonLinesSource(missing, ["orders.web"])
    (tmp_path / "other.jsonl").write_bytes(b"")
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"{tmp_path} holds none of: orders.web.jsonl")
    ):
        JsonLinesSource(tmp_path, ["orders.web"])


def test_one_partition_per_topic_file_and_a_missing_file_is_an_empty_topic(tmp_path: Path) -> None:
    write_topic(tmp_path, "orders.pos", [replay_line("S-014:88121", POS_SALE)])
    write_topic(tmp_path, "orders.web", [])
    source = JsonLinesSource(tmp_path, ["orders.web", "orders.pos", "orders.marketplace"])
    assert source.list_parts() == ["orders.web", "orders.pos"]
    assert drain(source.build_part("replay", "orders.web", None)) == []


def test_a_partition_reads_in_batches_and_resumes_after_its_snapshot(tmp_path: Path) -> None:
    lines = [replay_line(str(n), {"n": n}, n) for n in range(7)]
    write_topic(tmp_path, "orders.web", lines)
    source = JsonLinesSource(tmp_path, ["orders.web"], batch_size=3)
    expected = [raw_record_from_line("orders.web", n, line) for n, line in enumerate(lines)]

    partition = source.build_part("replay", "orders.web", None)
    assert partition.snapshot() == 0
    assert partition.next_batch() == expected[:3]
    assert partition.snapshot() == 3
    partition.close()

    resumed = source.build_part("replay", "orders.web", 3)
    assert resumed.next_batch() == expected[3:6]
    assert resumed.next_batch() == expected[6:]
    with pytest.raises(StopIteration):
        resumed.next_batch()
    assert resumed.snapshot() == 7
    resumed.close()

    at_end = source.build_part("replay", "orders.web", 7)
    assert drain(at_end) == []


def test_resuming_past_the_end_of_a_file_says_it_changed(tmp_path: Path) -> None:
    path = write_topic(tmp_path, "orders.web", [replay_line("1", {})])
    source = JsonLinesSource(tmp_path, ["orders.web"])
    with pytest.raises(
        ValueError, match=re.escape(f"cannot resume {path} at line 3: it has only 1 lines")
    ):
        source.build_part("replay", "orders.web", 2)


# The sink: each topic's routed records, one Avro container file.


def routed(topic: str, record: Contract) -> Routed:
    return Routed(topic, "key-is-a-field-of-the-record", record)


def test_every_contract_is_written_and_read_back_by_fastavro_and_apache_avro(
    tmp_path: Path,
) -> None:
    topics = {f"out.{name}": example for name, example in EXAMPLES.items()}
    sink = AvroFilesSink(tmp_path / "out", list(topics))
    for topic, example in topics.items():
        partition = sink.build_part("write", topic, None)
        partition.write_batch([routed(topic, example), routed(topic, example)])
        partition.close()

        expected = [to_avro_record(example)] * 2
        assert read_avro_file(sink.path(topic)) == expected
        assert read_with_apache_avro(sink.path(topic)) == expected
        assert type(example).model_validate(read_avro_file(sink.path(topic))[0]) == example


def test_each_topic_has_its_own_partition_and_an_unknown_topic_is_an_error(
    tmp_path: Path,
) -> None:
    topics = ["integration.exceptions", "canonical.orders", "canonical.movements"]
    sink = AvroFilesSink(tmp_path, topics)
    parts = sink.list_parts()
    assert sorted(parts) == sorted(topics)
    # Bytewax picks the partition at index part_fn(key) of the sorted partition names.
    assert [sorted(parts)[sink.part_fn(topic)] for topic in topics] == topics
    with pytest.raises(ValueError, match=r"no Avro file is configured for topic 'erp\.postings'"):
        sink.part_fn("erp.postings")


def test_a_partition_refuses_another_topic_or_a_second_contract(tmp_path: Path) -> None:
    sink = AvroFilesSink(tmp_path, ["canonical.orders"])
    partition = sink.build_part("write", "canonical.orders", None)
    with pytest.raises(ValueError, match=r"given a record for 'canonical\.movements'"):
        partition.write_batch([routed("canonical.movements", RECEIPT_MOVEMENT)])
    partition.write_batch([routed("canonical.orders", WEB_ORDER_PLACED)])
    with pytest.raises(TypeError, match="expected OrderEvent records, found InventoryMovement"):
        partition.write_batch([routed("canonical.orders", RECEIPT_MOVEMENT)])
    partition.close()


def test_a_resumed_partition_cuts_back_to_its_snapshot_and_appends(tmp_path: Path) -> None:
    topic = "erp.postings"
    sink = AvroFilesSink(tmp_path, [topic], codec="null")
    first = sink.build_part("write", topic, None)
    first.write_batch([routed(topic, POS_SALE_INVOICE)] * 2)
    snapshot = first.snapshot()
    assert snapshot == AvroFilePosition(records=2, size=sink.path(topic).stat().st_size)
    # Written after the snapshot, then the worker dies: the resumed input sends it again.
    first.write_batch([routed(topic, POS_SALE_INVOICE)])
    first.close()
    assert len(read_avro_file(sink.path(topic))) == 3

    resumed = sink.build_part("write", topic, snapshot)
    assert len(read_avro_file(sink.path(topic))) == 2
    resumed.write_batch([routed(topic, POS_SALE_INVOICE)] * 3)
    assert resumed.snapshot().records == 5
    resumed.close()

    expected = [to_avro_record(POS_SALE_INVOICE)] * 5
    assert read_avro_file(sink.path(topic)) == expected
    assert read_with_apache_avro(sink.path(topic)) == expected


def test_a_fresh_run_writes_the_file_anew(tmp_path: Path) -> None:
    topic = "integration.exceptions"
    sink = AvroFilesSink(tmp_path, [topic])
    for _ in range(2):
        partition = sink.build_part("write", topic, None)
        partition.write_batch([routed(topic, UNKNOWN_EAN_EXCEPTION)])
        partition.close()
    assert read_avro_file(sink.path(topic)) == [to_avro_record(UNKNOWN_EAN_EXCEPTION)]


def test_resuming_a_file_that_lost_data_or_changed_contract_is_refused(tmp_path: Path) -> None:
    topic = "canonical.orders"
    sink = AvroFilesSink(tmp_path, [topic])
    partition = sink.build_part("write", topic, None)
    partition.write_batch([routed(topic, WEB_ORDER_PLACED)])
    snapshot = partition.snapshot()
    partition.close()

    ahead = AvroFilePosition(snapshot.records + 1, snapshot.size + 1)
    with pytest.raises(ValueError, match=re.escape(f"cannot resume {sink.path(topic)}: it has")):
        sink.build_part("write", topic, ahead)

    resumed = sink.build_part("write", topic, snapshot)
    with pytest.raises(ValueError, match="written with another schema than the current"):
        resumed.write_batch([routed(topic, RECEIPT_MOVEMENT)])
    resumed.close()


def test_the_sink_needs_topics_and_a_known_codec(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        AvroFilesSink(tmp_path, [])
    with pytest.raises(ValueError, match="codec must be one of deflate, null, not 'snappy'"):
        AvroFilesSink(tmp_path, ["canonical.orders"], codec="snappy")


def test_time_ordered_source_interleaves_files_by_timestamp_and_resumes(tmp_path: Path) -> None:
    def write(topic: str, stamps: list[int]) -> None:
        lines = [
            json.dumps({"key": f"{topic}-{n}", "value": {"n": n}, "timestamp": stamp})
            for n, stamp in enumerate(stamps)
        ]
        (tmp_path / f"{topic}.jsonl").write_text("\n".join(lines) + "\n")

    # The stock file has a late line (timestamp 5 after 30): it keeps its place in its file.
    write("inventory.movements", [10, 30, 5, 50])
    write("orders.web", [20, 40])
    source = TimeOrderedJsonLinesSource(tmp_path, ["orders.web", "inventory.movements"], 2)
    (part,) = source.list_parts()
    reader = source.build_part("read", part, None)
    first = reader.next_batch()
    state = reader.snapshot()
    rest = [*reader.next_batch(), *reader.next_batch()]
    with pytest.raises(StopIteration):
        reader.next_batch()
    reader.close()
    order = [(r.topic, r.offset) for r in [*first, *rest]]
    assert order == [
        ("inventory.movements", 0),
        ("orders.web", 0),
        ("inventory.movements", 1),
        ("inventory.movements", 2),
        ("orders.web", 1),
        ("inventory.movements", 3),
    ]
    assert state == {"orders.web": 1, "inventory.movements": 1}
    resumed = source.build_part("read", part, state)
    again = [*resumed.next_batch(), *resumed.next_batch()]
    resumed.close()
    assert [(r.topic, r.offset) for r in again] == order[2:]
