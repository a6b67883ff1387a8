"""Settlement reports of real size are read and posted; one over the limit is kept, not lost.

A marketplace settlement report runs to thousands of rows (about 140 bytes each as the
marketplace sends them). The default payload limit is Kafka's own default largest message,
so what a topic of default settings carries is read; a topic configured for larger records
takes its own limit from reference data. Each report goes through the whole replay:
normalization, then finance's posting.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.file_sink import read_avro_file
from omnichannel.reference import DEFAULT_REFERENCE_FILE, ReferenceData, load_reference
from omnichannel.replay_run import replay
from omnichannel.settings import SettingError
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.normalize import Normalizer

TOPICS = Topics()
DEFAULT_LIMIT = 1_048_588


def report(settlement_id: str, rows: int) -> dict[str, Any]:
    """A balanced settlement report of `rows` order rows and a subscription fee."""
    lines: list[dict[str, Any]] = [
        {"order_id": None, "type": "ServiceFee", "description": "Subscription", "amount": "-39.99"}
    ]
    deposit = Decimal("-39.99")
    for n in range(rows):
        principal = Decimal(1000 + n % 5000).scaleb(-2)
        commission = -(principal * Decimal("0.15")).quantize(Decimal("0.01"))
        lines.append(
            {
                "order_id": f"113-{n:07d}-{(n * 7919) % 10**7:07d}",
                "type": "Order",
                "sku": f"SKU-{1000 + n % 90000}",
                "principal": str(principal),
                "tax": "0.80",
                "commission": str(commission),
                "fba_fee": "0.00",
            }
        )
        deposit += principal + Decimal("0.80") + commission
    return {
        "settlement_id": settlement_id,
        "marketplace": "ATVPDKIKX0DER",
        "start": "2026-11-27T00:00:00Z",
        "end": "2026-11-28T00:00:00Z",
        "currency": "USD",
        "deposit": str(deposit),
        "rows": lines,
    }


def write_reports(folder: Path, *reports: dict[str, Any]) -> list[bytes]:
    """The reports as the settlement topic's replay file, one line each; their payloads."""
    folder.mkdir(parents=True, exist_ok=True)
    lines, payloads = [], []
    for offset, body in enumerate(reports):
        payloads.append(json.dumps(body, separators=(",", ":")).encode())
        line = {
            "key": body["settlement_id"],
            "value": body,
            "timestamp": 1_795_000_000_000 + offset,
        }
        lines.append(json.dumps(line, separators=(",", ":")))
    (folder / f"{TOPICS.settlements}.jsonl").write_text("\n".join(lines) + "\n")
    return payloads


def with_settlement_limit(tmp_path: Path, limit: int) -> ReferenceData:
    """The bundled reference data with a limit of its own for the settlement topic."""
    text = DEFAULT_REFERENCE_FILE.read_text()
    entry = '# "settlements.marketplace" = 16777216'
    assert entry in text
    path = tmp_path / "reference.toml"
    path.write_text(text.replace(entry, f'"settlements.marketplace" = {limit}'))
    return load_reference(path)


def posted_settlements(out: Path) -> set[str]:
    entries = read_avro_file(out / f"{TOPICS.postings}.avro")
    return {e["document_id"] for e in entries if e["entry_type"] == "marketplace_settlement"}


def exceptions(out: Path) -> list[dict[str, Any]]:
    path = out / f"{TOPICS.exceptions}.avro"
    return read_avro_file(path) if path.exists() else []


def test_the_default_limit_is_kafkas_default_largest_message() -> None:
    assert load_reference().limits.max_payload_bytes == DEFAULT_LIMIT
    assert load_reference().limits.payload_limit(TOPICS.settlements) == DEFAULT_LIMIT


def test_real_sized_reports_are_posted_and_one_over_the_limit_is_kept(tmp_path: Path) -> None:
    payloads = write_reports(
        tmp_path / "in", report("S-1100", 1_100), report("S-7000", 7_000), report("S-10000", 10_000)
    )
    assert 100_000 < len(payloads[0]) < 900_000 < len(payloads[1]) < DEFAULT_LIMIT
    assert len(payloads[2]) > DEFAULT_LIMIT
    replay(tmp_path / "in", tmp_path / "out", load_reference())

    assert posted_settlements(tmp_path / "out") == {"S-1100", "S-7000"}
    (refused,) = exceptions(tmp_path / "out")
    assert refused["reason"] == "payload_too_large"
    assert f"more than the limit of {DEFAULT_LIMIT}" in refused["message"]
    assert (refused["source"]["topic"], refused["source"]["partition"]) == (TOPICS.settlements, 0)
    assert (refused["source"]["offset"], refused["source"]["key"]) == (2, "S-10000")
    assert refused["raw_value"] == payloads[2]


def test_a_topic_with_its_own_limit_takes_a_report_of_ten_thousand_rows(tmp_path: Path) -> None:
    payloads = write_reports(tmp_path / "in", report("S-10000", 10_000), report("S-30000", 30_000))
    reference = with_settlement_limit(tmp_path, 2 * DEFAULT_LIMIT)
    assert reference.limits.payload_limit(TOPICS.web_orders) == DEFAULT_LIMIT
    replay(tmp_path / "in", tmp_path / "out", reference)

    assert posted_settlements(tmp_path / "out") == {"S-10000"}
    (refused,) = exceptions(tmp_path / "out")
    assert (refused["reason"], refused["source"]["offset"]) == ("payload_too_large", 1)
    assert refused["raw_value"] == payloads[1]


def raw(topic: str, value: bytes) -> RawRecord:
    return RawRecord(topic=topic, partition=0, offset=5, key=b"k", value=value, timestamp_ms=None)


def test_a_limit_applies_to_its_own_topic_only(tmp_path: Path) -> None:
    reference = with_settlement_limit(tmp_path, 100)
    normalizer = Normalizer.for_topics(reference, TOPICS)
    padded = b'{"pad": "' + b"x" * 200 + b'"}'
    settlement = normalizer.normalize(raw(TOPICS.settlements, padded), datetime.now(UTC))
    web = normalizer.normalize(raw(TOPICS.web_orders, padded), datetime.now(UTC))
    assert isinstance(settlement, ExceptionRecord)
    assert isinstance(web, ExceptionRecord)
    assert settlement.reason == "payload_too_large"
    assert web.reason == "invalid_payload"  # read, then refused for its shape


def test_a_limit_for_a_topic_that_is_not_an_input_stops_the_flow(tmp_path: Path) -> None:
    text = DEFAULT_REFERENCE_FILE.read_text().replace(
        '# "settlements.marketplace" = 16777216', '"settlements.amazon" = 16777216'
    )
    (tmp_path / "reference.toml").write_text(text)
    reference = load_reference(tmp_path / "reference.toml")
    with pytest.raises(
        SettingError, match=r'limits\.max_payload_bytes_per_topic\."settlements\.amazon"'
    ):
        Normalizer.for_topics(reference, TOPICS)
    renamed = TOPICS.model_copy(update={"settlements": "settlements.amazon"})
    assert Normalizer.for_topics(reference, renamed).reference is reference


def test_a_limit_must_be_positive(tmp_path: Path) -> None:
    text = DEFAULT_REFERENCE_FILE.read_text().replace(
        '# "settlements.marketplace" = 16777216', '"settlements.marketplace" = 0'
    )
    (tmp_path / "reference.toml").write_text(text)
    with pytest.raises(SettingError, match=r"limits\.max_payload_bytes_per_topic"):
        load_reference(tmp_path / "reference.toml")
