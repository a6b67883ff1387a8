"""Exception records go back to their source topic once the reference data is fixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from omnichannel.kafka_io import REPLAY_COUNT_HEADER
from omnichannel.kafka_settings import producer_config
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.reference import DEFAULT_REFERENCE_FILE
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import fresh_topics, read_topic, run_flow, topic_env
from tests.unit.channel_examples import WEB_ORDER
from tests.unit.test_adapters import changed

TEXAS = changed(WEB_ORDER, "line_items.0.tax_lines.0.title", "US-TX")


def omni(*args: str, env: dict[str, str]) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "omnichannel.cli", *args],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_replay_sends_back_only_what_the_fixed_reference_now_maps(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic)
    producer = Producer(producer_config([kafka_bootstrap]))
    bad = json.dumps(TEXAS).encode()
    producer.produce(topics.web_orders, key=b"820982911946154508", value=bad)
    producer.produce(topics.web_orders, key=b"broken", value=b'{"topic": "orders/create", ')
    assert producer.flush(30) == 0
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**env, "NORMALIZE_TAIL": "false"})
    assert len(read_topic(kafka_bootstrap, topics.exceptions)) == 2

    # With the reference data unchanged, nothing maps yet: both are kept.
    kept = omni("exceptions", "replay", env=env)
    assert "replayed" not in kept
    assert "kept          1 unknown_tax_code" in kept

    fixed = tmp_path / "reference.toml"
    fixed.write_text(
        DEFAULT_REFERENCE_FILE.read_text()
        + '\n[tax_codes.US-TX]\nerp_code = "US-TX-SALES"\naccount = "2302"\nrate = "0.0625"\n'
    )
    report = omni("exceptions", "replay", "--config", str(fixed), env=env)
    assert "replayed      1 unknown_tax_code" in report
    assert "kept          1 malformed_json" in report

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "check"})
    consumer.assign([TopicPartition(topics.web_orders, 0, 2)])
    replayed = consumer.poll(10)
    consumer.close()
    assert replayed is not None
    assert replayed.value() == bad
    assert replayed.key() == b"820982911946154508"
    assert (REPLAY_COUNT_HEADER, b"1") in (replayed.headers() or [])
