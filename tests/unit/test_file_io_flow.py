"""The file edge in a running flow: replay files through normalization into Avro files.

One and two workers read the same day and write the same records; a replay that crashes and
resumes from its snapshots writes every record exactly once.
"""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.outputs import StatefulSinkPartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, cluster_main, run_main

from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.file_sink import AvroFilePosition, AvroFilesSink, read_avro_file
from omnichannel.file_source import JsonLinesSource
from omnichannel.reference import load_reference
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.normalize import Normalizer
from operators.routing import Routed, route_normalized
from tests.unit import channel_examples as channel
from tests.unit.test_file_io import read_with_apache_avro

TOPICS = Topics()
OUTPUTS = [
    TOPICS.canonical_orders,
    TOPICS.canonical_movements,
    TOPICS.canonical_settlements,
    TOPICS.exceptions,
]
NOT_JSON = b'{"type": "SALE", "store_id": "S-014", "total": 19.99,\xff'
BROKEN_LINE = b'{"key": "S-014:88122", "value": {"type": "SALE"'
# Money as a JSON number: refused by the adapter, and kept exactly as the channel sent it.
PRICE_AS_NUMBER = (
    b'{"topic":"orders/create","id":7,"line_items":[{"sku":"SKU-1001","price":29.99}]}'
)


def line(key: str, value: dict[str, Any], timestamp: int) -> bytes:
    return json.dumps({"key": key, "value": value, "timestamp": timestamp}).encode() + b"\n"


def write_day(folder: Path) -> dict[str, list[bytes]]:
    """Write a small replay day; return each topic's lines."""
    b64 = base64.b64encode(NOT_JSON).decode()
    topics = {
        TOPICS.web_orders: [
            line("820982911946154508", channel.WEB_ORDER, 1_795_000_000_000),
            line("820982911946154508", channel.WEB_FULFILLMENT, 1_795_000_000_500),
            b'{"key": "7", "value": ' + PRICE_AS_NUMBER + b', "timestamp": 1795000000900}\n',
        ],
        TOPICS.pos_orders: [
            line("S-014:88121", channel.POS_SALE, 1_795_000_001_000),
            json.dumps({"key": "S-014:88122", "value_b64": b64, "timestamp": 2}).encode() + b"\n",
            BROKEN_LINE + b"\n",
        ],
        TOPICS.marketplace_orders: [
            line("113-5938264-0371421", channel.MARKETPLACE_ORDER, 1_795_000_002_000)
        ],
        TOPICS.settlements: [line("11814637441", channel.SETTLEMENT, 1_795_000_003_000)],
        TOPICS.movements: [line("SKU-1001", channel.MOVEMENT, 1_795_000_004_000)],
    }
    for topic, lines in topics.items():
        (folder / f"{topic}.jsonl").write_bytes(b"".join(lines))
    return topics


def expected_raw_records() -> list[RawRecord]:
    """What Kafka would have handed the flow for the day `write_day` writes."""

    def payload(key: str | None, value: bytes, timestamp: int | None) -> dict[str, Any]:
        return {
            "key": None if key is None else key.encode(),
            "value": value,
            "timestamp_ms": timestamp,
        }

    def compact(document: dict[str, Any]) -> bytes:
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    by_topic = {
        TOPICS.web_orders: [
            payload("820982911946154508", compact(channel.WEB_ORDER), 1_795_000_000_000),
            payload("820982911946154508", compact(channel.WEB_FULFILLMENT), 1_795_000_000_500),
            payload("7", PRICE_AS_NUMBER, 1_795_000_000_900),
        ],
        TOPICS.pos_orders: [
            payload("S-014:88121", compact(channel.POS_SALE), 1_795_000_001_000),
            payload("S-014:88122", NOT_JSON, 2),
            payload(None, BROKEN_LINE, None),
        ],
        TOPICS.marketplace_orders: [
            payload("113-5938264-0371421", compact(channel.MARKETPLACE_ORDER), 1_795_000_002_000)
        ],
        TOPICS.settlements: [
            payload("11814637441", compact(channel.SETTLEMENT), 1_795_000_003_000)
        ],
        TOPICS.movements: [payload("SKU-1001", compact(channel.MOVEMENT), 1_795_000_004_000)],
    }
    return [
        RawRecord(topic=topic, partition=0, offset=offset, **fields)
        for topic, records in by_topic.items()
        for offset, fields in enumerate(records)
    ]


def normalization_flow(
    folder: Path,
    out: Path,
    raw_seen: list[RawRecord],
    batch_size: int = 1_000,
    before_normalize: Callable[[RawRecord], RawRecord] = lambda raw: raw,
    sink: type[AvroFilesSink] = AvroFilesSink,
) -> Dataflow:
    normalizer = Normalizer.for_topics(load_reference(None), TOPICS)

    def normalized(raw: RawRecord) -> Routed:
        return route_normalized(normalizer.normalize(raw, datetime.now(UTC)), TOPICS)

    flow = Dataflow("file_edge")
    raw = op.input("replay", flow, JsonLinesSource(folder, TOPICS.inputs, batch_size))
    op.output("raw_seen", raw, TestingSink(raw_seen))
    routed = op.map("normalize", op.map("before_normalize", raw, before_normalize), normalized)
    by_topic = op.map("key_by_topic", routed, lambda item: (item.topic, item))
    op.output("write", by_topic, sink(out, OUTPUTS))
    return flow


def coordinates(record: RawRecord) -> tuple[str, int]:
    return record.topic, record.offset


@pytest.mark.parametrize("workers", [1, 2])
def test_a_replayed_day_is_normalized_into_one_avro_file_per_topic(
    tmp_path: Path, workers: int
) -> None:
    write_day(tmp_path)
    out = tmp_path / "out"
    raw_seen: list[RawRecord] = []
    flow = normalization_flow(tmp_path, out, raw_seen)
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)

    assert sorted(raw_seen, key=coordinates) == sorted(expected_raw_records(), key=coordinates)

    written = {path.stem: read_avro_file(path) for path in sorted(out.glob("*.avro"))}
    assert {topic: len(records) for topic, records in written.items()} == {
        TOPICS.canonical_orders: 4,
        TOPICS.canonical_movements: 1,
        TOPICS.canonical_settlements: 1,
        TOPICS.exceptions: 3,
    }
    for topic, records in written.items():
        assert read_with_apache_avro(out / f"{topic}.avro") == records
    kept = {
        (e["source"]["topic"], e["source"]["offset"]): e["raw_value"]
        for e in written[TOPICS.exceptions]
    }
    assert kept == {
        (TOPICS.web_orders, 2): PRICE_AS_NUMBER,
        (TOPICS.pos_orders, 1): NOT_JSON,
        (TOPICS.pos_orders, 2): BROKEN_LINE,
    }


class _DiesAfterWriting(StatefulSinkPartition[Routed, AvroFilePosition]):
    """A file partition whose worker dies once, right after writing line 41, before a snapshot."""

    crashed = False

    def __init__(self, inner: StatefulSinkPartition[Routed, AvroFilePosition]) -> None:
        self._inner = inner

    def write_batch(self, values: list[Routed]) -> None:
        self._inner.write_batch(values)
        lines = {
            item.record.source.offset for item in values if isinstance(item.record, ExceptionRecord)
        }
        if 41 in lines and not _DiesAfterWriting.crashed:
            _DiesAfterWriting.crashed = True
            raise RuntimeError("the worker dies after writing line 41")

    def snapshot(self) -> AvroFilePosition:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class _SinkThatDiesOnce(AvroFilesSink):
    def build_part(self, step_id: str, for_part: str, resume_state: AvroFilePosition | None) -> Any:
        return _DiesAfterWriting(super().build_part(step_id, for_part, resume_state))


def crash_once_at_line_40(raw: RawRecord) -> RawRecord:
    if raw.offset == 40 and not _DiesAfterWriting.crashed:
        _DiesAfterWriting.crashed = True
        raise RuntimeError("the worker dies reading line 40")
    return raw


@pytest.mark.parametrize(
    ("crash", "sink"),
    [
        pytest.param(crash_once_at_line_40, AvroFilesSink, id="before-writing"),
        pytest.param(lambda raw: raw, _SinkThatDiesOnce, id="after-writing-before-snapshot"),
    ],
)
def test_a_replay_that_crashes_and_resumes_writes_every_record_once(
    tmp_path: Path, crash: Callable[[RawRecord], RawRecord], sink: type[AvroFilesSink]
) -> None:
    _DiesAfterWriting.crashed = False
    lines = [line(str(n), {"n": n}, n) for n in range(60)]
    (tmp_path / f"{TOPICS.web_orders}.jsonl").write_bytes(b"".join(lines))
    out = tmp_path / "out"
    (tmp_path / "recovery").mkdir()
    init_db_dir(tmp_path / "recovery", 1)
    recovery = RecoveryConfig(tmp_path / "recovery")
    flow = normalization_flow(tmp_path, out, [], 4, crash, sink)

    with pytest.raises(RuntimeError) as raised:
        run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert "the worker dies" in "".join(traceback.format_exception(raised.value))
    assert _DiesAfterWriting.crashed
    assert 0 < len(read_avro_file(out / f"{TOPICS.exceptions}.avro")) < 60

    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    exceptions = read_avro_file(out / f"{TOPICS.exceptions}.avro")
    assert [e["source"]["offset"] for e in exceptions] == list(range(60))
    assert read_with_apache_avro(out / f"{TOPICS.exceptions}.avro") == exceptions
