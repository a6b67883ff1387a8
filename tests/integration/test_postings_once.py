"""Finance killed with SIGKILL mid-stream and resumed posts every entry once, none missing.

The kill comes without waiting for a snapshot, so the dead run has sent postings that its last
snapshot (if any) does not cover. They were in a transaction it never committed: the resumed
run aborts it and posts them again, once (with Bytewax's own sink, every one was published
again: 4,123 doubled keys in one run of this test).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from omnichannel.codec import codec_for
from omnichannel.contracts.journal import JournalEntry
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from operators.finance.postings import balanced
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    read_topic,
    records_in,
    run_and_kill,
    run_flow,
    topic_env,
)
from tests.oracle.finance import net_sales, posted_net_sales

COMMAND = [sys.executable, "-m", "omnichannel.cli", "run", "finance"]


def test_no_posting_doubled_or_lost_across_sigkill(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    scenario = generate(ScenarioSettings(seed=8, events=30_000, skus=300), load_reference())
    write_jsonl(scenario, tmp_path / "day")
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(Topics().inputs, topics.inputs, strict=True))
    )
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**env, "NORMALIZE_TAIL": "false"})

    flow_env = {
        **env,
        "RECOVERY_DIR": str(tmp_path / "recovery"),
        "RECOVERY_PARTITIONS": "2",
        "SNAPSHOT_INTERVAL_S": "3",
        "BACKUP_INTERVAL_S": "0",
    }
    run_and_kill(
        COMMAND,
        {**flow_env, "FINANCE_TAIL": "true"},
        until=lambda: records_in(kafka_bootstrap, [topics.postings]) >= 3_000,
    )
    committed_at_kill = len(read_topic(kafka_bootstrap, topics.postings))

    resumed = subprocess.run(
        COMMAND, env={**flow_env, "FINANCE_TAIL": "false"}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = read_topic(kafka_bootstrap, topics.postings)
    assert len(records) > committed_at_kill, "killed after the end: nothing was left to resume"

    codec = codec_for(JournalEntry, None)
    entries = [codec.decode_model(r.value) for r in records]
    doubled = [key for key, n in Counter(e.idempotency_key for e in entries).items() if n > 1]
    assert doubled == []
    assert all(balanced(entry) for entry in entries)
    assert posted_net_sales(entries) == net_sales(tmp_path / "day")
