"""The hot path's fast ways give exactly what the slow ways gave (issue #8).

- The compiled Avro writers write fastavro's bytes; the readers build the instances pydantic
  validation builds; anything off their path goes the slow way, to the same result or error.
- The adapters build canonical events without validating them again: equal to validated ones,
  and an amount out of Money's bounds is still refused with pydantic's own error.
- A snapshot is an independent copy of the state: what follows never changes it; a resumed
  state goes on as the original does; pickles of the older form still load.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import json
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from omnichannel.codec import AvroCodec, codec_for, to_avro_record
from omnichannel.contracts.common import Contract, checked, field_layout, trusted
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.journal import JournalLine
from omnichannel.contracts.order_event import OrderEvent, OrderLine
from omnichannel.contracts.settlement import Settlement
from omnichannel.encoding import RecordEncoder
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.availability.logic import OrderStockLogic, SkuAvailabilityLogic
from operators.availability.order_events import OrderStockEvent
from operators.availability.order_stock import OrderStock
from operators.availability.sku_stock import AvailabilitySettings
from operators.availability.stock_changes import StockChange, stock_change
from operators.finance.dedupe import (
    _IDENTITY_FIELDS,
    DIGEST_V2,
    _plain,
    content_hash,
    content_hash_v1,
)
from operators.finance.ledger import FinanceSettings, OrderLedger
from operators.finance.logic import OrderLedgerLogic
from operators.normalize import Normalizer
from operators.routing import route_normalized
from operators.watermark import Watermark
from tests.unit.contract_examples import EXAMPLES, WEB_ORDER_PLACED

REFERENCE = load_reference()
TOPICS = Topics()
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@cache
def normalized_day() -> list[Any]:
    """A generated day with every fault, normalized, in the order it was produced."""
    scenario = generate(ScenarioSettings(seed=808, events=4_000, skus=120), REFERENCE)
    raws = sorted(
        (
            RawRecord(topic, 0, offset, record.key.encode(), record.value, record.timestamp_ms)
            for topic, records in scenario.records.items()
            for offset, record in enumerate(records)
        ),
        key=lambda raw: (raw.timestamp_ms or 0, raw.topic, raw.offset),
    )
    normalizer = Normalizer.for_topics(REFERENCE, TOPICS)
    return [normalizer.normalize(raw, NOW) for raw in raws]


def slow_bytes(codec: AvroCodec[Any], instance: Contract) -> bytes:
    return codec.encode(to_avro_record(instance))


def assert_same_instance(fast: Contract, slow: Contract) -> None:
    assert fast == slow
    assert type(fast) is type(slow)
    assert list(fast.__dict__) == list(slow.__dict__)
    assert fast.model_dump() == slow.model_dump()


def test_every_contract_is_compiled() -> None:
    for example in EXAMPLES.values():
        assert AvroCodec(type(example)).compiled is not None, type(example).__name__


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_compiled_writer_and_reader_agree_with_fastavro_and_pydantic(name: str) -> None:
    example = EXAMPLES[name]
    codec = AvroCodec(type(example))
    data = codec.encode_model(example)
    assert data == slow_bytes(codec, example)
    read = codec.decode_model(data)
    assert_same_instance(read, type(example).model_validate(codec.decode(data)))
    assert read.__pydantic_fields_set__ == set(type(example).model_fields)


def test_a_generated_day_and_its_outputs_are_written_byte_for_byte() -> None:
    encoder = RecordEncoder()
    seen: set[type] = set()
    for result in normalized_day():
        routed = route_normalized(result, TOPICS)
        codec = encoder.codec(type(routed.record), routed.topic)
        data = encoder.encode(routed).value
        assert data == codec.encode(to_avro_record(routed.record))
        assert_same_instance(codec.decode_model(data), routed.record)
        seen.add(type(result))
    assert seen == {OrderEvent, InventoryMovement, Settlement, ExceptionRecord}


def test_the_stateful_steps_outputs_are_written_byte_for_byte() -> None:
    encoder = RecordEncoder()
    settings = AvailabilitySettings(REFERENCE, coalesce=timedelta(0))
    outputs: list[Contract] = []
    for changes in list(_stock_changes().values())[:60]:
        logic = SkuAvailabilityLogic(None, settings)
        for change in changes:
            outputs.extend(logic.on_item(change)[0])
    finance = FinanceSettings(REFERENCE)
    for _, events in list(_by_order())[:400]:
        ledger = OrderLedgerLogic(None, finance, Watermark())
        for event in events:
            outputs.extend(o for o in ledger.on_item(event)[0] if isinstance(o, Contract))
        outputs.extend(o for o in ledger.on_eof()[0] if isinstance(o, Contract))
    kinds = {type(output).__name__ for output in outputs}
    assert {"AvailabilityUpdate", "JournalEntry", "Anomaly"} <= kinds
    for output in outputs:
        codec = encoder.codec(type(output), "any")
        data = codec.encode_model(output)
        assert data == codec.encode(to_avro_record(output))
        assert_same_instance(codec.decode_model(data), output)


@pytest.mark.parametrize(
    "amount",
    ["0", "-0", "0.0001", "-0.0001", "1E+3", "99999999999999.9999", "-99999999999999.9999",
     "12.5", "-128", "127.99", "1.2500"],
)  # fmt: skip
def test_amounts_are_written_as_fastavro_writes_them(amount: str) -> None:
    line = JournalLine(account="1", account_role="r", debit=Decimal(amount), credit=Decimal(0))
    codec = AvroCodec(JournalLine)
    data = codec.encode_model(line)
    assert data == slow_bytes(codec, line)
    assert_same_instance(codec.decode_model(data), line)


def test_values_off_the_compiled_path_go_the_slow_way() -> None:
    codec = AvroCodec(JournalLine)
    # Not an instance validation would build: fastavro decides, as it always did.
    odd = JournalLine.model_construct(
        account="1", account_role="r", debit=Decimal("1.23456"), credit=Decimal(0)
    )
    with pytest.raises(ValueError, match="Scale provided in schema does not match"):
        codec.encode_model(odd)
    naive_time = datetime(2026, 1, 1)  # noqa: DTZ001 - naive on purpose
    naive = EXAMPLES["AvailabilityUpdate"].model_copy(update={"published_at": naive_time})
    update_codec = AvroCodec(type(naive))
    assert update_codec.encode_model(naive) == slow_bytes(update_codec, naive)


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_and_trailing_bytes_fail_as_before(cut: int) -> None:
    codec = codec_for(OrderEvent, None)
    data = codec.encode_model(WEB_ORDER_PLACED)
    for broken in (data[:-cut], data + b"\x00" * cut):
        with pytest.raises((ValueError, EOFError, IndexError)) as fast:
            codec.decode_model(broken)
        with pytest.raises(type(fast.value)) as slow:
            OrderEvent.model_validate(codec.decode(broken))
        assert str(fast.value) == str(slow.value)


def test_adapters_build_what_validation_builds() -> None:
    results = normalized_day()
    assert any(isinstance(result, OrderEvent) for result in results)
    for result in results:
        assert_same_instance(result, type(result).model_validate(result.model_dump()))


def test_an_amount_beyond_money_is_refused_by_pydantic_as_before() -> None:
    raw = json.dumps({
        "topic": "orders/create", "id": 1, "name": "#1", "created_at": "2026-11-27T00:00:00Z",
        "updated_at": "2026-11-27T00:00:00Z", "currency": "USD",
        "subtotal_price": "999999999999900000.00", "total_tax": "0.00", "total_discounts": "0.00",
        "total_price": "999999999999900000.00", "fulfillment_location": "DC-EAST",
        "line_items": [{"id": 1, "sku": "SKU-1001", "quantity": 100000,
                        "price": "9999999999999.00", "tax_lines": []}],
    }).encode()  # fmt: skip
    record = Normalizer.for_topics(REFERENCE, TOPICS).normalize(
        RawRecord(TOPICS.web_orders, 0, 0, b"1", raw), NOW
    )
    assert isinstance(record, ExceptionRecord)
    assert record.reason is ExceptionReason.ADAPTER_FAILURE
    # What validating the line always said (pydantic's ValidationError, through the adapter).
    assert record.message.startswith("adapter failed: 1 validation error for OrderLine\nnet_amount")
    assert "is too large" in record.message


def test_checked_validates_money_and_time_as_pydantic_does() -> None:
    values = {"account": "1", "account_role": "r", "debit": Decimal("1.5"),
              "credit": Decimal(0), "tax_code": None, "memo": "m"}  # fmt: skip
    assert_same_instance(checked(JournalLine, dict(values)), JournalLine(**values))
    with pytest.raises(ValidationError) as fast:
        checked(JournalLine, {**values, "debit": Decimal("0.00001")})
    with pytest.raises(ValidationError) as slow:
        JournalLine(**{**values, "debit": Decimal("0.00001")})
    assert str(fast.value) == str(slow.value)
    assert field_layout(JournalLine) == (6, ("debit", "credit"))
    assert trusted(OrderLine, dict(WEB_ORDER_PLACED.lines[0].__dict__)) == WEB_ORDER_PLACED.lines[0]


def test_the_first_content_hash_is_the_digest_it_always_was() -> None:
    for result in normalized_day():
        if isinstance(result, OrderEvent):
            content = result.model_dump(mode="json", exclude=_IDENTITY_FIELDS)
            digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
            assert content_hash_v1(result) == digest[:16]


def test_the_v2_digest_is_the_repr_of_its_definition_walk() -> None:
    # The walker made per contract must give the tuple `_plain` defines: the digests kept in
    # snapshots since v2 were taken of it.
    events = [result for result in normalized_day() if isinstance(result, OrderEvent)]
    assert any(event.discounts for event in events)
    assert any(line.original_order_id for event in events for line in event.lines)
    for event in events:
        content = tuple(
            _plain(value) for name, value in event.__dict__.items() if name not in _IDENTITY_FIELDS
        )
        digest = hashlib.blake2b(repr(content).encode(), digest_size=8).hexdigest()
        assert content_hash(event) == DIGEST_V2 + digest


class _OlderPickler(pickle.Pickler):
    """Pickles contracts and slotted dataclasses as Python does without their __reduce__."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseModel):
            return copyreg.__newobj__, (type(obj),), obj.__getstate__()
        slots = getattr(type(obj), "__dataclass_fields__", None)
        if slots is not None and hasattr(type(obj), "__slots__"):
            return copyreg.__newobj__, (type(obj),), obj.__getstate__()
        return NotImplemented


def older_pickle(obj: object) -> bytes:
    out = io.BytesIO()
    _OlderPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return out.getvalue()


def test_contracts_pickle_to_equal_instances_and_older_pickles_load() -> None:
    for example in EXAMPLES.values():
        for data in (pickle.dumps(example), older_pickle(example)):
            loaded = pickle.loads(data)
            assert_same_instance(loaded, example)
            assert loaded.__pydantic_fields_set__ == example.__pydantic_fields_set__


def _by_order() -> Iterator[tuple[str, list[OrderEvent]]]:
    orders: dict[str, list[OrderEvent]] = {}
    for result in normalized_day():
        if isinstance(result, OrderEvent):
            orders.setdefault(result.correlation_id, []).append(result)
    yield from orders.items()


def test_order_stock_snapshots_are_independent_and_resume() -> None:
    for _, events in _by_order():
        logic = OrderStockLogic(None, timedelta(days=7))
        for n, event in enumerate(events):
            logic.on_item(event)
            snapshot = logic.snapshot()
            frozen = pickle.dumps(snapshot)
            rest = events[n + 1 :]
            resumed = OrderStockLogic(snapshot, timedelta(days=7))
            older = OrderStockLogic(older_pickle(logic.state), timedelta(days=7))
            outputs = [logic.on_item(e)[0] for e in rest]
            assert [resumed.on_item(e)[0] for e in rest] == outputs
            assert [older.on_item(e)[0] for e in rest] == outputs
            assert pickle.dumps(snapshot) == frozen
            assert pickle.loads(frozen) == snapshot
            break


def _stock_changes() -> dict[str, list[StockChange]]:
    changes: dict[str, list[StockChange]] = {}
    orders: dict[str, OrderStock] = {}
    for result in normalized_day():
        if isinstance(result, OrderEvent):
            order = orders.setdefault(result.correlation_id, OrderStock())
            for delta in order.apply(OrderStockEvent.of(result)):
                changes.setdefault(delta.sku, []).append(delta)
        elif isinstance(result, InventoryMovement):
            changes.setdefault(result.sku, []).append(stock_change(result))
    return changes


def test_sku_stock_snapshots_are_independent_and_resume() -> None:
    settings = AvailabilitySettings(REFERENCE, coalesce=timedelta(0))
    clock = iter(NOW + timedelta(seconds=n) for n in range(10**6))

    def tick() -> datetime:
        return next(clock)

    for sku, changes in list(_stock_changes().items())[:40]:
        logic = SkuAvailabilityLogic(None, settings, clock=tick)
        half = len(changes) // 2
        for change in changes[:half]:
            logic.on_item(change)
        snapshot = logic.snapshot()
        frozen = pickle.dumps(snapshot)
        resumed = SkuAvailabilityLogic(snapshot, settings, clock=tick)
        older = SkuAvailabilityLogic(older_pickle(logic.state), settings, clock=tick)
        for change in changes[half:]:
            logic.on_item(change)
            resumed.on_item(change)
            older.on_item(change)
        assert pickle.dumps(snapshot) == frozen, sku
        assert resumed.state.positions == logic.state.positions == older.state.positions


def test_ledger_snapshots_are_independent_and_resume() -> None:
    settings = FinanceSettings(REFERENCE)
    for _, events in list(_by_order())[:300]:
        logic = OrderLedgerLogic(None, settings, Watermark())
        logic.on_item(events[0])
        snapshot = logic.snapshot()
        frozen = pickle.dumps(snapshot)
        resumed = OrderLedgerLogic(snapshot, settings, Watermark())
        older = OrderLedgerLogic(older_pickle(logic.ledger), settings, Watermark())
        for event in events[1:]:
            expected = _comparable(logic.on_item(event)[0])
            assert _comparable(resumed.on_item(event)[0]) == expected
            assert _comparable(older.on_item(event)[0]) == expected
        assert pickle.dumps(snapshot) == frozen
        assert isinstance(pickle.loads(frozen), OrderLedger)


def _comparable(outputs: Any) -> list[Any]:
    """Outputs without their wall-clock times (each logic reads its own clock)."""
    clean = []
    for output in outputs:
        if isinstance(output, BaseModel):
            clean.append(output.model_dump(exclude={"detected_at"}))
        else:
            clean.append(output)
    return clean
