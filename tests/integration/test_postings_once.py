"""Finance killed with SIGKILL mid-stream and resumed posts every entry once, none missing.

The kill comes without waiting for a snapshot, so the dead run has written postings that its
last snapshot (if any) does not cover; the resumed run must not write them again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

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
from tests.integration.kafka_topics import fresh_topics, read_topic, run_flow, topic_env
from tests.oracle.finance import net_sales


def postings_so_far(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "progress"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(3)
        )
    finally:
        consumer.close()


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
        **os.environ,
        **env,
        "RECOVERY_DIR": str(tmp_path / "recovery"),
        "RECOVERY_PARTITIONS": "2",
        "SNAPSHOT_INTERVAL_S": "3",
        "BACKUP_INTERVAL_S": "0",
    }
    command = [sys.executable, "-m", "omnichannel.cli", "run", "finance"]
    first = subprocess.Popen(
        command, env={**flow_env, "FINANCE_TAIL": "true"}, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while postings_so_far(kafka_bootstrap, topics.postings) < 3_000:
            assert first.poll() is None, "the flow ended before it was killed"
            assert time.monotonic() < deadline, "no postings in 2 minutes"
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    at_kill = postings_so_far(kafka_bootstrap, topics.postings)

    resumed = subprocess.run(
        command, env={**flow_env, "FINANCE_TAIL": "false"}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = read_topic(kafka_bootstrap, topics.postings)
    assert len(records) > at_kill, "killed after the end: nothing was left to resume"

    entries = [codec_for(JournalEntry, None).decode_model(r.value) for r in records]
    doubled = [key for key, n in Counter(e.idempotency_key for e in entries).items() if n > 1]
    # The dead run had written postings its last snapshot did not cover (with Bytewax's own
    # sink, every one of them was published again: 4,123 doubled keys in one run of this test).
    assert "not sending them again" in resumed.stderr
    assert doubled == []
    assert all(balanced(entry) for entry in entries)
    net: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        for line in entry.lines:
            if line.account_role in ("debtor", "creditor"):
                net[entry.channel.value] += line.debit - line.credit
    expected = net_sales(tmp_path / "day")
    assert {c: v.normalize() for c, v in net.items()} == {
        c: v.normalize() for c, v in expected.items()
    }
