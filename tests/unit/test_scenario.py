"""The scenario generator: deterministic, internally consistent, and honest about its faults."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from omnichannel.contracts.common import Channel
from omnichannel.reference import ReferenceData, load_reference
from omnichannel.scenario import (
    INPUT_TOPICS,
    OUTPUT_TOPICS,
    DeliveryError,
    FaultRates,
    InputRecord,
    Scenario,
    ScenarioSettings,
    generate,
    produce_to_kafka,
    read_jsonl,
    write_jsonl,
)
from omnichannel.scenario import writers as scenario_writers
from omnichannel.scenario.cli import add_generate_parser, run_generate
from omnichannel.scenario.faults import how_many
from omnichannel.settings import SettingError

WEB, POS, MARKETPLACE = "orders.web", "orders.pos", "orders.marketplace"
SETTLEMENTS, MOVEMENTS = "settlements.marketplace", "inventory.movements"
CENT = Decimal("0.01")
# Rates high enough that every fault shows up several times in a small day.
FAULTY = FaultRates(
    duplicate_webhook=0.05,
    pos_backlog_resend=0.05,
    late_marketplace_status=0.05,
    refund_before_fulfilment=0.3,
    late_stock_movement=0.1,
    unmapped_tax_code=0.03,
    unknown_sku=0.03,
    settlement_unbalanced=1.0,
    malformed_json=0.03,
)


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference()


@pytest.fixture(scope="module")
def faulty(reference: ReferenceData) -> Scenario:
    return generate(ScenarioSettings(seed=7, events=6_000, skus=40, faults=FAULTY), reference)


@pytest.fixture(scope="module")
def clean(reference: ReferenceData) -> Scenario:
    return generate(ScenarioSettings.clean(seed=11, events=4_000, skus=30), reference)


def payloads(scenario: Scenario, topic: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset, parsed value) of every record of a topic whose value is JSON."""
    broken = scenario.not_json.get(topic, frozenset())
    for offset, record in enumerate(scenario.records[topic]):
        if offset not in broken:
            yield offset, json.loads(record.value)


def faults_named(scenario: Scenario, name: str) -> list[dict[str, Any]]:
    found = [f for f in scenario.manifest["faults"] if f["fault"] == name]
    assert found, f"no {name} fault in the scenario"
    return found


def value_at(scenario: Scenario, topic: str, offset: int) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(scenario.records[topic][offset].value)
    return parsed


def money(text: str) -> Decimal:
    amount = Decimal(text)
    assert amount.as_tuple().exponent == -2, text
    return amount


# Determinism


def test_the_same_seed_gives_the_same_bytes(reference: ReferenceData, tmp_path: Path) -> None:
    settings = ScenarioSettings(seed=3, events=1_500, skus=20)
    first, second = generate(settings, reference), generate(settings, reference)
    write_jsonl(first, tmp_path / "a")
    write_jsonl(second, tmp_path / "b")
    for name in [f"{topic}.jsonl" for topic in INPUT_TOPICS] + ["manifest.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = generate(settings.model_copy(update={"seed": 4}), reference)
    assert other.records[WEB] != first.records[WEB]


def test_files_read_back_into_the_same_records(faulty: Scenario, tmp_path: Path) -> None:
    write_jsonl(faulty, tmp_path)
    for topic in INPUT_TOPICS:
        assert read_jsonl(tmp_path / f"{topic}.jsonl") == faulty.records[topic]
    lines = (tmp_path / f"{WEB}.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(
        set(json.loads(line)) in ({"key", "value", "timestamp"}, {"key", "value_b64", "timestamp"})
        for line in lines
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == json.loads(json.dumps(faulty.manifest))


# Amounts add up exactly as the adapters check them


def test_web_order_totals_add_up(faulty: Scenario, reference: ReferenceData) -> None:
    orders = 0
    for _, order in payloads(faulty, WEB):
        if order["topic"] not in ("orders/create", "orders/cancelled"):
            continue
        orders += 1
        assert order["currency"] == "USD"
        lines = order["line_items"]
        subtotal = sum(money(line["price"]) * line["quantity"] for line in lines)
        tax = sum(money(t["price"]) for line in lines for t in line["tax_lines"])
        discounts = sum(money(code["amount"]) for code in order["discount_codes"])
        shipping = sum(money(s["price"]) for s in order["shipping_lines"])
        assert money(order["subtotal_price"]) == subtotal
        assert money(order["total_tax"]) == tax
        assert money(order["total_discounts"]) == discounts
        assert money(order["total_price"]) == subtotal - discounts + shipping + tax
        for line in lines:
            for tax_line in line["tax_lines"]:
                assert Decimal(tax_line["rate"]) > 0
        assert reference.locations[order["fulfillment_location"]]
    assert orders > 100


def test_web_refunds_carry_amounts_for_the_refunded_quantity(faulty: Scenario) -> None:
    ordered: dict[int, dict[str, Any]] = {}
    refunds = 0
    for _, event in payloads(faulty, WEB):
        if event["topic"] == "orders/create":
            ordered[event["id"]] = event
        elif event["topic"] == "refunds/create" and event["order_id"] in ordered:
            refunds += 1
            order = ordered[event["order_id"]]
            assert event["location"] == order["fulfillment_location"]
            money(event["shipping_refund"])
            by_sku = {line["sku"]: line for line in order["line_items"]}
            for line in event["refund_line_items"]:
                bought = by_sku.get(line["sku"])
                if bought is None:  # the unknown_sku fault renamed it
                    continue
                assert 0 < line["quantity"] <= bought["quantity"]
                assert money(line["subtotal"]) <= money(bought["price"]) * line["quantity"]
                assert money(line["total_tax"]) <= money(bought["tax_lines"][0]["price"])
    assert refunds > 5


def test_pos_receipt_totals_add_up(faulty: Scenario) -> None:
    receipts: Counter[str] = Counter()
    for _, receipt in payloads(faulty, POS):
        receipts[receipt["type"]] += 1
        assert receipt["currency"] == "EUR"
        total = sum(
            money(line["unit_price"]) * line["qty"] - money(line["discount"])
            for line in receipt["lines"]
        )
        assert money(receipt["total"]) == total
        assert receipt["lines"]
    assert receipts["SALE"] > 100
    assert receipts["RETURN"] > 0
    assert receipts["VOID"] > 0


def test_marketplace_order_totals_add_up(faulty: Scenario) -> None:
    statuses: Counter[str] = Counter()
    for _, order in payloads(faulty, MARKETPLACE):
        statuses[order["OrderStatus"]] += 1
        items = order["OrderItems"]
        total = sum(money(i["ItemPrice"]["Amount"]) + money(i["ItemTax"]["Amount"]) for i in items)
        assert order["OrderTotal"] == {"CurrencyCode": "USD", "Amount": str(total)}
        shipped = order["OrderStatus"] == "Shipped"
        for item in items:
            assert item["QuantityShipped"] == (item["QuantityOrdered"] if shipped else 0)
    assert set(statuses) == {"Pending", "Unshipped", "Shipped", "Canceled"}


def test_settlements_balance_but_for_the_unbalanced_fault(
    faulty: Scenario, reference: ReferenceData
) -> None:
    unbalanced = {f["offset"] for f in faults_named(faulty, "settlement_unbalanced")}
    for offset, report in payloads(faulty, SETTLEMENTS):
        amounts = []
        for row in report["rows"]:
            if row["type"] == "Order":
                commission = money(row["commission"])
                assert commission == -(money(row["principal"]) * Decimal("0.15")).quantize(CENT)
                assert money(row["fba_fee"]) == 0
                amounts += [money(row["principal"]), money(row["tax"]), commission]
            else:
                assert row["type"] == "ServiceFee"
                assert row["order_id"] is None
                amounts.append(money(row["amount"]))
        balanced = money(report["deposit"]) == sum(amounts)
        assert balanced is (offset not in unbalanced)
        limit = reference.limits.payload_limit(SETTLEMENTS)
        assert len(faulty.records[SETTLEMENTS][offset].value) <= limit


def test_a_days_settlement_is_one_report_of_real_size(clean: Scenario) -> None:
    (report,) = clean.records[SETTLEMENTS]
    rows = json.loads(report.value)["rows"]
    assert len(rows) > 100
    assert len(report.value) > 10_000


def test_reports_larger_than_the_topics_limit_are_split(reference: ReferenceData) -> None:
    limits = reference.limits.model_copy(
        update={"max_payload_bytes_per_topic": {SETTLEMENTS: 10_000}}
    )
    small = reference.model_copy(update={"limits": limits})
    day = generate(ScenarioSettings.clean(seed=11, events=4_000, skus=30), small)
    whole = generate(ScenarioSettings.clean(seed=11, events=4_000, skus=30), reference)
    reports = [json.loads(record.value) for record in day.records[SETTLEMENTS]]
    assert len(reports) > 3
    assert all(len(record.value) <= 10_000 for record in day.records[SETTLEMENTS])
    for report in reports:
        amounts = [
            money(row[name])
            for row in report["rows"]
            for name in ("principal", "tax", "commission", "fba_fee", "amount")
            if name in row
        ]
        assert money(report["deposit"]) == sum(amounts)
    (one,) = [json.loads(record.value) for record in whole.records[SETTLEMENTS]]
    assert [row for report in reports for row in report["rows"]] == one["rows"]


def test_settlements_pay_out_exactly_the_shipped_items(clean: Scenario) -> None:
    shipped = {
        (order["AmazonOrderId"], item["SellerSKU"], item["ItemPrice"]["Amount"])
        for _, order in payloads(clean, MARKETPLACE)
        if order["OrderStatus"] == "Shipped"
        for item in order["OrderItems"]
    }
    settled = [
        (row["order_id"], row["sku"], row["principal"])
        for _, report in payloads(clean, SETTLEMENTS)
        for row in report["rows"]
        if row["type"] == "Order"
    ]
    assert sorted(settled) == sorted(shipped)
    for _, report in payloads(clean, SETTLEMENTS):
        amounts = [
            money(row[name])
            for row in report["rows"]
            for name in ("principal", "tax", "commission", "fba_fee", "amount")
            if name in row
        ]
        assert money(report["deposit"]) == sum(amounts)
    fees = [
        row for _, r in payloads(clean, SETTLEMENTS) for row in r["rows"] if row["order_id"] is None
    ]
    assert {fee["description"] for fee in fees} == {"Subscription", "Sponsored Products charges"}


# The manifest accounts for every record


def test_expected_outcomes_account_for_every_input_record(faulty: Scenario) -> None:
    manifest = faulty.manifest
    assert manifest["counts"] == {t: len(records) for t, records in faulty.records.items()}
    assert manifest["total_events"] == faulty.total_events
    assert set(manifest["expected_counts"]) == set(OUTPUT_TOPICS)
    assert sum(manifest["expected_counts"].values()) == faulty.total_events
    exceptions = [f for f in manifest["faults"] if f["expected"] != "canonical"]
    assert manifest["expected_counts"]["integration.exceptions"] == len(exceptions)
    reasons = Counter(f["expected"].removeprefix("exception:") for f in exceptions)
    assert manifest["expected_exceptions"] == dict(reasons)
    assert set(reasons) == {
        "unknown_tax_code",
        "unknown_sku",
        "unknown_ean",
        "settlement_unbalanced",
        "malformed_json",
    }
    orders = sum(len(faulty.records[t]) for t in (WEB, POS, MARKETPLACE))
    order_exceptions = sum(1 for f in exceptions if f["topic"] in (WEB, POS, MARKETPLACE))
    assert manifest["expected_counts"]["canonical.orders"] == orders - order_exceptions
    assert Counter(f["fault"] for f in manifest["faults"]) == {
        name: n for name, n in manifest["fault_counts"].items() if n
    }
    keys = {(f["topic"], f["offset"]) for f in manifest["faults"]}
    assert len(keys) == len(manifest["faults"]), "a record takes part in one fault at most"
    for fault in manifest["faults"]:
        assert faulty.records[fault["topic"]][fault["offset"]].key == fault["key"]


def test_duplicate_webhooks_repeat_their_original_byte_for_byte(faulty: Scenario) -> None:
    for fault in faults_named(faulty, "duplicate_webhook"):
        records = faulty.records[fault["topic"]]
        duplicate, original = records[fault["offset"]], records[fault["original_offset"]]
        assert fault["topic"] == WEB
        assert fault["expected"] == "canonical"
        assert fault["original_offset"] < fault["offset"]
        assert (duplicate.key, duplicate.value) == (original.key, original.value)
        assert duplicate.timestamp_ms > original.timestamp_ms


def test_pos_resends_arrive_after_newer_receipts_of_their_store(faulty: Scenario) -> None:
    for fault in faults_named(faulty, "pos_backlog_resend"):
        records = faulty.records[POS]
        resent, original = records[fault["offset"]], records[fault["original_offset"]]
        assert resent.value == original.value
        assert fault["expected"] == "canonical"
        receipt = json.loads(resent.value)
        between = [
            value
            for offset, value in payloads(faulty, POS)
            if fault["original_offset"] < offset < fault["offset"]
            and value["store_id"] == receipt["store_id"]
        ]
        assert any(r["receipt_no"] > receipt["receipt_no"] for r in between)


def test_late_marketplace_statuses_are_older_than_what_came_before(faulty: Scenario) -> None:
    for fault in faults_named(faulty, "late_marketplace_status"):
        late = value_at(faulty, MARKETPLACE, fault["offset"])
        newer = value_at(faulty, MARKETPLACE, fault["original_offset"])
        assert fault["original_offset"] < fault["offset"]
        assert fault["expected"] == "canonical"
        assert late["AmazonOrderId"] == newer["AmazonOrderId"] == fault["key"]
        assert late["LastUpdateDate"] < newer["LastUpdateDate"]


def test_refunds_before_fulfilment_overtake_the_fulfilment(faulty: Scenario) -> None:
    for fault in faults_named(faulty, "refund_before_fulfilment"):
        refund = value_at(faulty, WEB, fault["offset"])
        fulfilment = value_at(faulty, WEB, fault["original_offset"])
        assert fault["offset"] < fault["original_offset"]
        assert fault["expected"] == "canonical"
        assert (refund["topic"], fulfilment["topic"]) == ("refunds/create", "fulfillments/create")
        assert refund["order_id"] == fulfilment["order_id"] == int(fault["key"])


def test_late_stock_movements_arrive_after_a_later_count_of_their_position(
    faulty: Scenario,
) -> None:
    for fault in faults_named(faulty, "late_stock_movement"):
        late = value_at(faulty, MOVEMENTS, fault["offset"])
        count = value_at(faulty, MOVEMENTS, fault["original_offset"])
        assert fault["original_offset"] < fault["offset"]
        assert fault["expected"] == "canonical"
        assert count["type"] == "COUNT" != late["type"]
        assert (late["sku"], late["location"]) == (count["sku"], count["location"])
        assert late["sku"] == fault["key"]
        # Whole seconds, both: the count is of a later second, so it has the movement in it.
        assert late["ts"] < count["ts"]


def test_content_faults_carry_what_their_reason_says(
    faulty: Scenario, reference: ReferenceData
) -> None:
    for fault in faults_named(faulty, "unknown_sku"):
        value = value_at(faulty, fault["topic"], fault["offset"])
        if fault["topic"] == POS:
            assert fault["expected"] == "exception:unknown_ean"
            assert any(reference.sku_for_ean(line["ean"]) is None for line in value["lines"])
        else:
            assert fault["expected"] == "exception:unknown_sku"
            assert not all(reference.is_known_sku(sku) for sku in _skus(fault["topic"], value))
    for fault in faults_named(faulty, "unmapped_tax_code"):
        value = value_at(faulty, fault["topic"], fault["offset"])
        assert fault["expected"] == "exception:unknown_tax_code"
        assert not all(code in reference.tax_codes for code in _tax_codes(fault["topic"], value))
    for fault in faults_named(faulty, "malformed_json"):
        assert fault["expected"] == "exception:malformed_json"
        assert fault["offset"] in faulty.not_json[fault["topic"]]
        with pytest.raises(ValueError, match="line 1"):
            json.loads(faulty.records[fault["topic"]][fault["offset"]].value)
    assert sum(len(offsets) for offsets in faulty.not_json.values()) == len(
        faults_named(faulty, "malformed_json")
    )


@pytest.mark.parametrize(
    ("rate", "applicable", "injected"),
    [(0.0, 100, 0), (0.02, 100, 2), (0.001, 100, 1), (0.02, 1, 0), (1.0, 1, 1), (0.5, 0, 0)],
)
def test_each_configured_fault_shows_up_but_never_takes_a_lone_record(
    rate: float, applicable: int, injected: int
) -> None:
    assert how_many(rate, applicable) == injected


# A clean day is clean


def test_a_clean_day_has_no_faults_and_expects_no_exception(clean: Scenario) -> None:
    manifest = clean.manifest
    assert manifest["faults"] == []
    assert manifest["expected_counts"]["integration.exceptions"] == 0
    assert not any(clean.not_json.values())
    assert set(manifest["settings"]["faults"].values()) == {0.0}


def test_a_clean_day_names_only_what_reference_data_knows(
    clean: Scenario, reference: ReferenceData
) -> None:
    for topic in (WEB, MARKETPLACE):
        for _, value in payloads(clean, topic):
            assert all(reference.is_known_sku(sku) for sku in _skus(topic, value))
            assert all(code in reference.tax_codes for code in _tax_codes(topic, value))
    for _, receipt in payloads(clean, POS):
        assert all(reference.sku_for_ean(line["ean"]) for line in receipt["lines"])
        assert all(line["tax_code"] in reference.tax_codes for line in receipt["lines"])
        assert reference.locations[receipt["store_id"]].kind == "STORE"
    for _, movement in payloads(clean, MOVEMENTS):
        assert reference.is_known_sku(movement["sku"])
        assert movement["location"] in reference.locations
    for _, order in payloads(clean, MARKETPLACE):
        assert reference.locations[order["ShipFromLocation"]].kind == "DC"


def test_keys_are_what_channels_md_says(clean: Scenario) -> None:
    key_of: dict[str, Callable[[dict[str, Any]], str]] = {
        WEB: lambda v: str(v.get("order_id", v["id"])),
        POS: lambda v: f"{v['store_id']}:{v['receipt_no']}",
        MARKETPLACE: lambda v: v["AmazonOrderId"],
        SETTLEMENTS: lambda v: v["settlement_id"],
        MOVEMENTS: lambda v: v["sku"],
    }
    for topic, key in key_of.items():
        assert all(
            clean.records[topic][offset].key == key(value)
            for offset, value in payloads(clean, topic)
        )


def test_values_are_the_compact_json_that_json_dumps_writes(clean: Scenario) -> None:
    for topic, records in clean.records.items():
        for record in records:
            value = json.loads(record.value)
            assert record.value == json.dumps(value, separators=(",", ":")).encode(), topic


def test_clean_topics_arrive_in_time_order(clean: Scenario) -> None:
    for topic, records in clean.records.items():
        stamps = [record.timestamp_ms for record in records]
        assert stamps == sorted(stamps), topic


# The day's life makes sense


def test_timestamps_carry_a_timezone(faulty: Scenario) -> None:
    fields = {
        WEB: ("created_at", "updated_at"),
        POS: ("ts",),
        MARKETPLACE: ("PurchaseDate", "LastUpdateDate"),
        SETTLEMENTS: ("start", "end"),
        MOVEMENTS: ("ts",),
    }
    for topic, names in fields.items():
        for _, value in payloads(faulty, topic):
            for name in names:
                if name in value:
                    stamp = value[name]
                    assert stamp.endswith("+01:00" if topic == POS else "Z"), stamp
                    assert datetime.fromisoformat(stamp).utcoffset() is not None


def test_web_orders_live_their_life_at_one_location(clean: Scenario) -> None:
    created: dict[int, dict[str, Any]] = {}
    fulfilled: dict[int, str] = {}
    for _, event in payloads(clean, WEB):
        if event["topic"] == "orders/create":
            created[event["id"]] = event
        elif event["topic"] == "orders/cancelled":
            assert event["updated_at"] > created[event["id"]]["updated_at"]
            assert event["id"] not in fulfilled
        elif event["topic"] == "fulfillments/create":
            order = created[event["order_id"]]
            assert event["location"] == order["fulfillment_location"]
            assert event["created_at"] > order["created_at"]
            fulfilled[event["order_id"]] = event["created_at"]
        else:
            assert event["created_at"] > fulfilled[event["order_id"]]
    assert 0.7 < len(fulfilled) / len(created) < 0.95


def test_pos_returns_and_voids_name_earlier_receipts_of_their_store(clean: Scenario) -> None:
    seen: dict[str, dict[int, str]] = {}
    for _, receipt in payloads(clean, POS):
        store = seen.setdefault(receipt["store_id"], {})
        assert receipt["receipt_no"] not in store
        if receipt["type"] == "RETURN":
            for line in receipt["lines"]:
                assert store[line["original_receipt_no"]] == "SALE"
        elif receipt["type"] == "VOID":
            assert receipt["voids_receipt_no"] in store
        store[receipt["receipt_no"]] = receipt["type"]
    for receipts in seen.values():
        assert list(receipts) == sorted(receipts)


def test_marketplace_statuses_move_forward(clean: Scenario) -> None:
    order_of = {"Pending": 0, "Unshipped": 1, "Shipped": 2, "Canceled": 2}
    last: dict[str, tuple[str, int]] = {}
    for _, order in payloads(clean, MARKETPLACE):
        stamp, rank = order["LastUpdateDate"], order_of[order["OrderStatus"]]
        previous = last.get(order["AmazonOrderId"])
        assert previous is None or (previous[0] < stamp and previous[1] < rank)
        last[order["AmazonOrderId"]] = (stamp, rank)


def test_every_position_opens_with_stock(clean: Scenario, reference: ReferenceData) -> None:
    start = clean.manifest["window"]["start"]
    opening = {
        (m["sku"], m["location"])
        for _, m in payloads(clean, MOVEMENTS)
        if m["ts"] == start and m["type"] in ("COUNT", "RECEIPT")
    }
    skus = {sku for sku, _ in opening}
    assert len(skus) == clean.settings.skus
    assert opening == {(sku, location) for sku in skus for location in reference.locations}
    kinds = Counter(m["type"] for _, m in payloads(clean, MOVEMENTS) if m["ts"] != start)
    assert set(kinds) == {"RECEIPT", "TRANSFER_OUT", "TRANSFER_IN", "DAMAGE", "ADJUSTMENT", "COUNT"}


def test_popular_skus_sell_far_more_than_the_rest(clean: Scenario) -> None:
    units: Counter[str] = Counter()
    for _, receipt in payloads(clean, POS):
        for line in receipt["lines"]:
            units[line["ean"]] += line["qty"]
    ranked = [n for _, n in units.most_common()]
    assert sum(ranked[:3]) > sum(ranked[-10:]) * 2


def test_the_manifest_counts_orders_per_channel(clean: Scenario) -> None:
    manifest = clean.manifest
    web_creates = sum(1 for _, e in payloads(clean, WEB) if e["topic"] == "orders/create")
    sales = sum(1 for _, r in payloads(clean, POS) if r["type"] == "SALE")
    amazon_orders = {o["AmazonOrderId"] for _, o in payloads(clean, MARKETPLACE)}
    assert manifest["orders"] == {
        "web": web_creates,
        "pos": sales,
        "marketplace": len(amazon_orders),
    }
    assert 3_000 < manifest["total_events"] < 5_000


# Settings


def test_settings_the_reference_cannot_serve_fail_with_their_name(
    reference: ReferenceData,
) -> None:
    with pytest.raises(SettingError, match="skus: 100001 SKUs asked for, the catalog has 100000"):
        generate(ScenarioSettings(skus=100_001, events=10), reference)
    with pytest.raises(SettingError, match="not in reference data: S-999"):
        generate(ScenarioSettings(locations=("S-999",), events=10), reference)
    with pytest.raises(SettingError, match="none of them serves channel pos"):
        generate(ScenarioSettings(locations=("DC-EAST",), events=10), reference)
    with pytest.raises(ValidationError, match="24 hourly weights"):
        ScenarioSettings.model_validate({"peak_curve": {"web": [1.0] * 23}})
    with pytest.raises(ValidationError):
        FaultRates(malformed_json=1.5)


def test_a_day_can_be_cut_down_to_some_channels_and_locations(reference: ReferenceData) -> None:
    scenario = generate(
        ScenarioSettings(
            seed=1, events=800, skus=10, channels=(Channel.POS,), locations=("S-015",)
        ),
        reference,
    )
    assert scenario.records[WEB] == scenario.records[MARKETPLACE] == []
    assert scenario.records[SETTLEMENTS] == []
    assert {receipt["store_id"] for _, receipt in payloads(scenario, POS)} == {"S-015"}


# Delivery


class FakeProducer:
    """Stands in for confluent_kafka.Producer: records what is produced, reports delivery."""

    fail_topic: str | None = None
    produced: list[tuple[str, bytes, bytes, int]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        assert config["bootstrap.servers"] == "k1:9092,k2:9092"
        self.callbacks: list[Callable[[], None]] = []

    def produce(
        self, topic: str, value: bytes, key: bytes, timestamp: int, on_delivery: Any
    ) -> None:
        FakeProducer.produced.append((topic, key, value, timestamp))
        error = "broker said no" if topic == self.fail_topic else None
        message = FakeMessage(topic)
        self.callbacks.append(lambda: on_delivery(error, message))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        for callback in self.callbacks:
            callback()
        return 0


class FakeMessage:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


def test_kafka_gets_every_record_in_offset_order(
    clean: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenario_writers, "Producer", FakeProducer)
    FakeProducer.produced = []
    counts = produce_to_kafka(clean, "k1:9092, k2:9092", {WEB: "t.web", POS: "t.pos"})
    assert counts == {"t.web": len(clean.records[WEB]), "t.pos": len(clean.records[POS])}
    sent_web = [
        InputRecord(k.decode(), v, ts) for t, k, v, ts in FakeProducer.produced if t == "t.web"
    ]
    assert sent_web == clean.records[WEB]


def test_a_failed_delivery_is_raised(clean: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario_writers, "Producer", FakeProducer)
    monkeypatch.setattr(FakeProducer, "fail_topic", "t.pos")
    with pytest.raises(DeliveryError, match=r"records failed .*t\.pos: broker said no"):
        produce_to_kafka(clean, "k1:9092,k2:9092", {POS: "t.pos"})
    with pytest.raises(ValueError, match=r"not input topics of a scenario: orders\.fax"):
        produce_to_kafka(clean, "k1:9092,k2:9092", {"orders.fax": "t"})


def test_the_generate_command_writes_a_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="omni")
    add_generate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["generate", "--out", str(tmp_path), "--seed", "5", "--events", "600", "--skus", "8"]
    )
    assert run_generate(args) == 0
    printed = capsys.readouterr().out
    assert "events/s" in printed
    assert "faults injected:" in printed
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 5
    assert manifest["settings"]["skus"] == 8
    assert run_generate(parser.parse_args(["generate", "--clean", "--skus", "8"])) == 2
    too_many = parser.parse_args(["generate", "--out", str(tmp_path), "--skus", "999999"])
    assert run_generate(too_many) == 1
    assert "the catalog has 100000" in capsys.readouterr().err


def _skus(topic: str, value: dict[str, Any]) -> list[str]:
    if topic == MARKETPLACE:
        return [item["SellerSKU"] for item in value["OrderItems"]]
    lines = value.get("line_items") or value.get("refund_line_items") or []
    return [line["sku"] for line in lines]


def _tax_codes(topic: str, value: dict[str, Any]) -> list[str]:
    if topic == MARKETPLACE:
        return [item["TaxCode"] for item in value["OrderItems"]]
    if topic == POS:
        return [line["tax_code"] for line in value["lines"]]
    lines = value.get("line_items", [])
    return [t["title"] for line in lines for t in line.get("tax_lines", [])]
