"""What a finance user needs to read an exception: its reason in words, its payload, its order.

An exception record carries a reason code, the raw bytes exactly as read and the coordinates
they came from. Here the code becomes a sentence saying what it means for the books and what
fixes it; the bytes become something a person can read (pretty JSON, text, or a hex dump when
they are neither); the source topic becomes the channel; and the payload gives the correlation
id the adapters would have given the canonical event, which ties the case to what the system
knows of that order. Pure: nothing here reads a topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.topics import Topics

UNKNOWN_CHANNEL = "unknown"
HEX_LINE_BYTES = 16

REASONS_IN_WORDS: dict[ExceptionReason, str] = {
    ExceptionReason.PAYLOAD_TOO_LARGE: (
        "The record is larger than the limit set for its topic, so it was not read at all. "
        "If it is a genuine document (a long settlement report), raise the topic's limit in "
        "the reference data (limits.max_payload_bytes_per_topic), then replay."
    ),
    ExceptionReason.NOT_UTF8: (
        "The record's bytes are not readable text, so nothing in it could be understood. "
        "The sending system must correct its encoding and send it again: fix it upstream."
    ),
    ExceptionReason.MALFORMED_JSON: (
        "The record is not a well-formed document (broken JSON), so no order, movement or "
        "settlement could be read from it. The sender must send it again: fix it upstream."
    ),
    ExceptionReason.INVALID_PAYLOAD: (
        "The document does not have the shape its channel agreed to (a field missing or of "
        "the wrong kind), so it cannot be booked. The message names the field; the sender "
        "must correct it: fix it upstream."
    ),
    ExceptionReason.UNKNOWN_SKU: (
        "The order or movement names a product (SKU) the catalog does not know, so neither "
        "stock nor revenue can be booked against it. Add the SKU to the reference data "
        "(catalog), then replay."
    ),
    ExceptionReason.UNKNOWN_EAN: (
        "The store receipt carries a barcode (EAN) that maps to no product, so the sale cannot "
        "be booked. Map the EAN to its SKU in the reference data (catalog.eans), then replay."
    ),
    ExceptionReason.UNKNOWN_LOCATION: (
        "The record names a store or warehouse the reference data does not know, or one that "
        "does not serve this channel, so stock and revenue have no place to go. Add or correct "
        "the location in the reference data (locations), then replay."
    ),
    ExceptionReason.UNKNOWN_TAX_CODE: (
        "The order carries a tax code the ERP's tax table does not know, so it cannot be "
        "invoiced. Add the code to the reference data (tax_codes), then replay."
    ),
    ExceptionReason.UNKNOWN_CURRENCY: (
        "The amounts are in a currency the reference data does not know, so they cannot be "
        "booked. Add the currency to the reference data (currencies), then replay."
    ),
    ExceptionReason.CURRENCY_NOT_ACCEPTED: (
        "The channel sold in a currency it is not set up to trade in, so the sale cannot be "
        "booked. If the currency is right, allow it for the channel in the reference data "
        "(channels.<channel>.currencies) and replay; if not, fix it upstream."
    ),
    ExceptionReason.INVALID_QUANTITY: (
        "A quantity is zero, negative or implausibly large, so stock and revenue would be "
        "wrong. The sender must correct the quantity: fix it upstream, or discard it if it "
        "was sent in error."
    ),
    ExceptionReason.INVALID_AMOUNT: (
        "An amount is not a valid sum of money (not a number, negative where it cannot be, "
        "or with more decimals than the currency has), so it cannot be booked. The sender "
        "must correct it: fix it upstream."
    ),
    ExceptionReason.TOTALS_MISMATCH: (
        "The document's stated total differs from the sum of its lines, tax, shipping and "
        "discounts, so it is unclear what the customer owes. The sender must correct the "
        "document: fix it upstream."
    ),
    ExceptionReason.SETTLEMENT_UNBALANCED: (
        "The marketplace settlement's rows do not add up to the deposit paid into the bank, "
        "so the payout cannot be reconciled. Ask the marketplace for a corrected report: fix "
        "it upstream."
    ),
    ExceptionReason.CONFLICTING_RESUBMISSION: (
        "The same document arrived again with different content after the first version was "
        "already posted to the ERP. The first stays booked; decide which is right and correct "
        "the ERP by hand or with the sender, then discard or mark it fixed upstream."
    ),
    ExceptionReason.OUT_OF_ORDER: (
        "The event came without the one it depends on (a shipment or refund before its "
        "order) within the waiting time, so it could not be posted. Once the missing event "
        "has arrived, replay it; if it never will, fix it upstream."
    ),
    ExceptionReason.ADAPTER_FAILURE: (
        "The integration itself failed on this record (a defect, not bad data). Report it to "
        "the integration team with the case id; replay once the defect is fixed."
    ),
}


def reason_in_words(reason: ExceptionReason) -> str:
    """What the reason means for the books and what fixes it, in a finance user's words."""
    return REASONS_IN_WORDS[reason]


@dataclass(frozen=True)
class PayloadView:
    """A raw payload as a person reads it: `json` pretty-printed, `text`, or a `hex` dump."""

    kind: Literal["json", "text", "hex"]
    text: str


def payload_view(raw: bytes) -> PayloadView:
    """Pretty JSON (indent 2, sorted keys) when the bytes parse, UTF-8 text when they decode,
    else a hex dump of 16 bytes a line with each line's offset."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return PayloadView("hex", hex_dump(raw))
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return PayloadView("text", text)
    return PayloadView("json", json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))


def hex_dump(raw: bytes) -> str:
    """`00000000  7b 22 61 ...  |{"a...|` lines: offset, the bytes in hex, printable ASCII."""
    lines = []
    for start in range(0, len(raw), HEX_LINE_BYTES):
        chunk = raw[start : start + HEX_LINE_BYTES]
        hexes = " ".join(f"{byte:02x}" for byte in chunk)
        printable = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{start:08x}  {hexes:<{HEX_LINE_BYTES * 3 - 1}}  |{printable}|")
    return "\n".join(lines)


def channel_of(topic: str, topics: Topics) -> str:
    """The channel a source topic belongs to: web, pos, marketplace, warehouse or unknown."""
    channels = {
        topics.web_orders: "web",
        topics.pos_orders: "pos",
        topics.marketplace_orders: "marketplace",
        topics.settlements: "marketplace",
        topics.movements: "warehouse",
    }
    return channels.get(topic, UNKNOWN_CHANNEL)


def correlation_id(record: ExceptionRecord, topics: Topics) -> str | None:
    """The correlation id the adapters would give the record's canonical event; None when the
    payload does not parse or lacks the fields it is made of.

    A finance exception keeps the canonical event itself (as JSON), which names its own.
    """
    try:
        document = json.loads(record.raw_value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    if record.step != "normalize":
        return _text(document.get("correlation_id"))
    topic = record.source.topic
    if topic == topics.web_orders:
        return _web(document)
    if topic == topics.pos_orders:
        return _pos(document)
    if topic == topics.marketplace_orders:
        return _prefixed("marketplace", document.get("AmazonOrderId"))
    if topic == topics.settlements:
        return _prefixed("settlement", document.get("settlement_id"))
    if topic == topics.movements:
        return _prefixed("movement", document.get("movement_id"))
    return None


def _web(document: dict[str, Any]) -> str | None:
    """An order webhook names the order by its `id`; a fulfilment or refund by `order_id`."""
    if document.get("topic") in ("fulfillments/create", "refunds/create"):
        return _prefixed("web", document.get("order_id"))
    return _prefixed("web", document.get("id"))


def _pos(document: dict[str, Any]) -> str | None:
    """`pos:<store>:<receipt>`; a void belongs to the receipt it cancels."""
    store = _text(document.get("store_id"))
    voided = _text(document.get("voids_receipt_no"))
    receipt = voided if document.get("type") == "VOID" and voided else document.get("receipt_no")
    number = _text(receipt)
    if store is None or number is None:
        return None
    return f"pos:{store}:{number}"


def _prefixed(prefix: str, value: object) -> str | None:
    text = _text(value)
    return None if text is None else f"{prefix}:{text}"


def _text(value: object) -> str | None:
    """A JSON string or integer as the adapters format it; anything else is no id."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)
