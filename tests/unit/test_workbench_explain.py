"""The workbench's explanations: reasons in words, payload views, channels, correlation ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from omnichannel.contracts.common import SourceCoordinates
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.reference import load_reference
from omnichannel.topics import Topics
from omnichannel.workbench.explain import (
    PayloadView,
    channel_of,
    correlation_id,
    payload_view,
    reason_in_words,
)
from operators.adapters.raw import RawRecord
from operators.normalize import Normalizer
from tests.unit import channel_examples
from tests.unit.contract_examples import UNKNOWN_EAN_EXCEPTION

TOPICS = Topics()
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
NORMALIZER = Normalizer.for_topics(load_reference(), TOPICS)

POS_RETURN = dict(
    channel_examples.POS_SALE,
    type="RETURN",
    receipt_no=88190,
    lines=[dict(channel_examples.POS_SALE["lines"][0], original_receipt_no=88121)],
)
POS_VOID = dict(
    channel_examples.POS_SALE, type="VOID", receipt_no=88122, voids_receipt_no=88121, lines=[]
)
POS_VOID["total"] = "0.00"

# Each channel example, with a change that makes the normalizer refuse it (and the reason).
EXAMPLES: list[tuple[str, dict[str, Any], dict[str, Any], ExceptionReason]] = [
    (
        TOPICS.web_orders,
        channel_examples.WEB_ORDER,
        {"line_items": [dict(channel_examples.WEB_ORDER["line_items"][0], tax_lines=[
            {"title": "US-XX", "rate": "0.08875", "price": "4.88"}
        ])]},
        ExceptionReason.UNKNOWN_TAX_CODE,
    ),
    (
        TOPICS.web_orders,
        dict(channel_examples.WEB_ORDER, topic="orders/cancelled"),
        {"fulfillment_location": "DC-NOWHERE"},
        ExceptionReason.UNKNOWN_LOCATION,
    ),
    (
        TOPICS.web_orders,
        channel_examples.WEB_FULFILLMENT,
        {"line_items": [{"sku": "SKU-0000000", "quantity": 2}]},
        ExceptionReason.UNKNOWN_SKU,
    ),
    (
        TOPICS.web_orders,
        channel_examples.WEB_REFUND,
        {"location": "DC-NOWHERE"},
        ExceptionReason.UNKNOWN_LOCATION,
    ),
    (
        TOPICS.pos_orders,
        channel_examples.POS_SALE,
        {"lines": [dict(channel_examples.POS_SALE["lines"][0], ean="0000000000000")]},
        ExceptionReason.UNKNOWN_EAN,
    ),
    (
        TOPICS.pos_orders,
        POS_RETURN,
        {"lines": [dict(POS_RETURN["lines"][0], tax_code="DE-99")]},
        ExceptionReason.UNKNOWN_TAX_CODE,
    ),
    (TOPICS.pos_orders, POS_VOID, {"currency": "XXX"}, ExceptionReason.UNKNOWN_CURRENCY),
    (
        TOPICS.marketplace_orders,
        channel_examples.MARKETPLACE_ORDER,
        {"OrderItems": [dict(channel_examples.MARKETPLACE_ORDER["OrderItems"][0], TaxCode="X")]},
        ExceptionReason.UNKNOWN_TAX_CODE,
    ),
    (
        TOPICS.settlements,
        channel_examples.SETTLEMENT,
        {"deposit": "-3.88"},
        ExceptionReason.SETTLEMENT_UNBALANCED,
    ),
    (
        TOPICS.movements,
        channel_examples.MOVEMENT,
        {"location": "DC-NOWHERE"},
        ExceptionReason.UNKNOWN_LOCATION,
    ),
]  # fmt: skip


def normalized(topic: str, payload: dict[str, Any], offset: int = 7) -> object:
    raw = RawRecord(topic, 0, offset, b"key", json.dumps(payload).encode(), 1_700_000_000_000)
    return NORMALIZER.normalize(raw, NOW)


@pytest.mark.parametrize(("topic", "payload", "broken", "reason"), EXAMPLES)
def test_an_exceptions_correlation_id_is_the_one_the_adapter_gives_its_event(
    topic: str, payload: dict[str, Any], broken: dict[str, Any], reason: ExceptionReason
) -> None:
    event = normalized(topic, payload)
    assert not isinstance(event, ExceptionRecord), event
    refused = normalized(topic, payload | broken)
    assert isinstance(refused, ExceptionRecord)
    assert refused.reason is reason
    assert correlation_id(refused, TOPICS) == event.correlation_id  # type: ignore[attr-defined]


def test_correlation_ids_read_like_the_adapters_write_them() -> None:
    ids = {
        correlation_id(exception(topic, payload | broken), TOPICS)
        for topic, payload, broken, _ in EXAMPLES
    }
    assert ids == {
        "web:820982911946154508",
        "pos:S-014:88121",
        "pos:S-014:88190",
        "marketplace:113-5938264-0371421",
        "settlement:11814637441",
        "movement:WMS-7781-002",
    }


def test_a_finance_exception_names_the_correlation_id_of_the_event_it_keeps() -> None:
    event = normalized(TOPICS.web_orders, channel_examples.WEB_REFUND)
    record = ExceptionRecord(
        exception_id="finance:orders.web:0:7",
        reason=ExceptionReason.OUT_OF_ORDER,
        message="refund came without its invoice",
        raw_value=event.model_dump_json().encode(),  # type: ignore[attr-defined]
        source=event.source,  # type: ignore[attr-defined]
        step="finance",
        detected_at=NOW,
    )
    assert correlation_id(record, TOPICS) == "web:820982911946154508"


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe not utf-8", b"{not json", b"[1, 2]", b'{"topic": "orders/create"}', b'{"id": 1.5}'],
)
def test_no_correlation_id_when_the_payload_does_not_name_one(raw: bytes) -> None:
    assert correlation_id(exception(TOPICS.web_orders, raw=raw), TOPICS) is None


def test_an_unknown_topics_payload_has_no_correlation_id() -> None:
    assert correlation_id(exception("orders.telephone", {"id": 1}), TOPICS) is None


def test_every_reason_has_words_a_finance_user_reads() -> None:
    for reason in ExceptionReason:
        words = reason_in_words(reason)
        assert len(words) > 60, reason
        assert reason.value not in words, "the words explain the code, they do not repeat it"
    assert "tax_codes" in reason_in_words(ExceptionReason.UNKNOWN_TAX_CODE)
    assert "replay" in reason_in_words(ExceptionReason.UNKNOWN_TAX_CODE)


def test_a_json_payload_is_pretty_printed_with_sorted_keys() -> None:
    view = payload_view(b'{"b": [1, {"d": "\xc3\xa9"}], "a": null}')
    assert view.kind == "json"
    assert view.text == '{\n  "a": null,\n  "b": [\n    1,\n    {\n      "d": "é"\n    }\n  ]\n}'


def test_text_that_is_not_json_is_shown_as_it_is() -> None:
    view = payload_view("{broken, café\n".encode())
    assert (view.kind, view.text) == ("text", "{broken, café\n")


def test_bytes_that_are_not_text_are_a_hex_dump_of_sixteen_a_line_with_offsets() -> None:
    raw = bytes(range(0xF0, 0x100)) + b"AB\x00"
    view = payload_view(raw)
    assert view.kind == "hex"
    assert view.text.splitlines() == [
        "00000000  f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 fa fb fc fd fe ff  |................|",
        "00000010  41 42 00                                         |AB.|",
    ]


def test_the_empty_payload_is_empty_text() -> None:
    assert payload_view(b"") == PayloadView("text", "")


def test_each_input_topic_has_its_channel() -> None:
    renamed = Topics(web_orders="shop.orders")
    assert channel_of("shop.orders", renamed) == "web"
    assert channel_of("orders.web", renamed) == "unknown"
    assert [
        channel_of(topic, TOPICS)
        for topic in (
            TOPICS.web_orders,
            TOPICS.pos_orders,
            TOPICS.marketplace_orders,
            TOPICS.settlements,
            TOPICS.movements,
            TOPICS.canonical_orders,
        )
    ] == ["web", "pos", "marketplace", "marketplace", "warehouse", "unknown"]


def test_the_contract_examples_exception_names_its_receipt() -> None:
    assert correlation_id(UNKNOWN_EAN_EXCEPTION, TOPICS) == "pos:S-014:88121"


def exception(
    topic: str, payload: dict[str, Any] | None = None, raw: bytes | None = None
) -> ExceptionRecord:
    return ExceptionRecord(
        exception_id=f"{topic}:0:1",
        reason=ExceptionReason.INVALID_PAYLOAD,
        message="refused",
        raw_value=raw if raw is not None else json.dumps(payload).encode(),
        source=SourceCoordinates(topic=topic, partition=0, offset=1),
        step="normalize",
        detected_at=NOW,
    )
