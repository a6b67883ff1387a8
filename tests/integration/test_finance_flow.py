"""A trading day through normalization and finance on the real broker.

Every posting balances, no idempotency key is published twice, invoices less credit memos per
channel equal the reference computation to the cent, and duplicates are reported.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from omnichannel.codec import codec_for
from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from operators.finance.postings import balanced
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    read_contracts,
    read_topic,
    run_flow,
    topic_env,
)
from tests.oracle.finance import net_sales, posted_net_sales


def test_day_posts_balanced_entries_once_each(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    scenario = generate(ScenarioSettings(seed=11, events=3_000, skus=100), load_reference())
    write_jsonl(scenario, tmp_path)
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(Topics().inputs, topics.inputs, strict=True))
    )
    settings = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**settings, "NORMALIZE_TAIL": "false"})
    run_flow("dataflows.finance", {**settings, "FINANCE_TAIL": "false"})

    records = read_topic(kafka_bootstrap, topics.postings)
    codec = codec_for(JournalEntry, None)
    entries = [codec.decode_model(r.value) for r in records]
    assert entries
    assert all(balanced(entry) for entry in entries)
    assert all(r.key == e.idempotency_key.encode() for r, e in zip(records, entries, strict=True))
    assert [k for k, n in Counter(e.idempotency_key for e in entries).items() if n > 1] == []

    assert posted_net_sales(entries) == net_sales(tmp_path)

    anomalies = read_contracts(kafka_bootstrap, topics.anomalies, Anomaly)
    duplicates = scenario.manifest["fault_counts"]
    expected = duplicates["duplicate_webhook"] + duplicates["pos_backlog_resend"]
    assert sum(a.anomaly_type == "duplicate_event" for a in anomalies) == expected

    summaries = read_contracts(kafka_bootstrap, topics.reconciliation, ReconciliationSummary)
    assert {s.channel.value for s in summaries} == {"web", "pos", "marketplace"}
