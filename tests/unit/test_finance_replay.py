"""Finance over generated trading days: balanced entries, sales to the cent, faults detected.

The days run through the real replay flow (normalization, availability and finance); the
expected figures come from `tests/oracle/finance.py` and the generator's fault manifest.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from bytewax.testing import run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows.replay import build
from omnichannel.contracts.journal import JournalEntry
from omnichannel.file_sink import read_avro_file
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import write_jsonl
from tests.oracle.finance import net_sales, posted_net_sales

REFERENCE = load_reference()
FINANCE_ANOMALIES = {"duplicate_event", "duplicate_order", "out_of_order", "reconciliation_gap"}
# The faults finance must notice, and how it reports each.
DETECTED_AS = {
    "duplicate_webhook": "duplicate_event",
    "pos_backlog_resend": "duplicate_event",
    "late_marketplace_status": "out_of_order",
    "refund_before_fulfilment": "out_of_order",
}


def replayed(folder: Path, seed: int, events: int) -> tuple[Path, Path]:
    day, out = folder / "day", folder / "out"
    write_jsonl(generate(ScenarioSettings(seed=seed, events=events, skus=80), REFERENCE), day)
    run_main(build(day, out, REFERENCE))
    return day, out


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31))
def test_every_entry_balances_and_sales_add_up_to_the_cent(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    day, out = replayed(tmp_path_factory.mktemp("finance"), seed, 1_500)
    entries = read_avro_file(out / "erp.postings.avro")
    assert entries
    for entry in entries:
        debits = sum((line["debit"] for line in entry["lines"]), Decimal(0))
        credits = sum((line["credit"] for line in entry["lines"]), Decimal(0))
        assert debits == credits, entry["idempotency_key"]
    assert len({entry["idempotency_key"] for entry in entries}) == len(entries)
    journal = [JournalEntry.model_validate(entry) for entry in entries]
    assert posted_net_sales(journal) == net_sales(day)
    # An hour with nothing finance could not post reconciles exactly: everything shipped was
    # invoiced, and everything refunded, returned or voided was credited.
    newest = {}
    for summary in read_avro_file(out / "finance.reconciliation.avro"):
        newest[(summary["channel"], summary["currency"], summary["window_start"])] = summary
    clean = [summary for summary in newest.values() if summary["gaps"] == 0]
    assert clean
    for summary in clean:
        assert summary["shipped"] == summary["invoiced"], summary
        assert summary["refunded"] == summary["credited"], summary


def test_injected_faults_are_detected_and_clean_events_are_not_flagged(tmp_path: Path) -> None:
    day, out = replayed(tmp_path, 20261127, 6_000)
    manifest = json.loads((day / "manifest.json").read_text())
    anomalies = [
        a for a in read_avro_file(out / "integration.anomalies.avro")
        if a["anomaly_type"] in FINANCE_ANOMALIES
    ]  # fmt: skip
    flagged = {(a["details"]["source"], a["anomaly_type"]) for a in anomalies}
    injected = [f for f in manifest["faults"] if f["fault"] in DETECTED_AS]
    missed = [
        f for f in injected
        if (f"{f['topic']}:0:{f['offset']}", DETECTED_AS[f["fault"]]) not in flagged
    ]  # fmt: skip
    assert injected, "the day should carry reordering and duplicate faults"
    assert missed == [], f"recall {1 - len(missed) / len(injected):.3f}"

    # An anomaly on a record that is not itself a fault must stem from a refused record of the
    # same order (its order never reached finance); anything else is a false positive.
    faulted = {f"{f['topic']}:0:{f['offset']}" for f in manifest["faults"]}
    prefixes = {"orders.web": "web", "orders.pos": "pos", "orders.marketplace": "marketplace"}
    broken_orders = {
        f"{prefixes[f['topic']]}:{f['key']}"
        for f in manifest["faults"]
        if f["expected"].startswith("exception") and f["topic"] in prefixes
    }
    false_positives = [
        a for a in anomalies
        if a["details"]["source"] not in faulted and a["correlation_id"] not in broken_orders
    ]  # fmt: skip
    assert false_positives == []
