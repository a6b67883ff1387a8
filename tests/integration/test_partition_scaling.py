"""Peak-season scaling: partitions added to live topics mid-run, results still right.

The runbook's steps (docs/peak-season.md) on the real broker: the flows run on the morning's
half of a day; `omni topics grow` takes the input topics from 2 to 4 partitions and the
canonical topics from 3 to 6; the afternoon is produced, its keys now hashed over the new
counts. The running flows do not see the new partitions (Bytewax lists them at start-up), so
the records there wait, unread. A rolling restart from recovery picks them up; in the end the
postings equal an uninterrupted run's, once each, and availability equals the reference,
although the remap put later events of some orders and SKUs on other partitions than their
earlier ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from omnichannel.contracts.common import Channel
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    newest_availability,
    records_in,
    topic_env,
)
from tests.integration.live_flows import (
    REFERENCE,
    SETTLE_S,
    expected_postings,
    flows_running,
    halves,
    posted_keys,
    wait_for,
)
from tests.oracle.availability import final_availability


def grow(env: dict[str, str], which: str, partitions: int) -> str:
    command = [sys.executable, "-m", "omnichannel.cli", "topics", "grow"]
    grown = subprocess.run(
        [*command, "--only", which, "--partitions", str(partitions)],
        env={**os.environ, **env}, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert grown.returncode == 0, grown.stderr
    return grown.stdout


def test_partitions_added_mid_run_then_a_rolling_restart_keep_results_right(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic, input_partitions=2)
    scenario = generate(ScenarioSettings(seed=31, events=20_000, skus=300), REFERENCE)
    write_jsonl(scenario, tmp_path / "day")
    expected = expected_postings(tmp_path / "day", tmp_path / "uninterrupted")
    morning, afternoon = halves(scenario)
    targets = dict(zip(Topics().inputs, topics.inputs, strict=True))
    produce_to_kafka(morning, kafka_bootstrap, targets)
    # Finance's patience follows the low watermark of the *source* partitions its events came
    # from, not of the canonical partitions it reads: right after the restart, the new
    # canonical partitions are read from their start while the old ones are current, so a
    # refund could give up on its invoice (to the exception topic) before the invoice is read.
    # A day of grace keeps this test about the partitions, not about that race.
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FINANCE_GRACE_S": "86400",
        **topic_env(topics),
    }
    canonical = [topics.canonical_orders, topics.canonical_movements, topics.canonical_settlements]
    normalized = [*canonical, topics.exceptions]

    with flows_running(env, tmp_path) as processes:
        wait_for(
            lambda: records_in(kafka_bootstrap, normalized) >= morning.total_events,
            processes, 120, "the morning normalized",
        )  # fmt: skip
        assert "orders.web" not in grow(env, "inputs", 4)  # the test's own topics only
        assert f"{topics.canonical_orders}: 3 -> 6" in grow(env, "canonical", 6)
        produce_to_kafka(afternoon, kafka_bootstrap, targets)

        # Until they restart, the flows read only the partitions they started with.
        time.sleep(5)
        unread = scenario.total_events - records_in(kafka_bootstrap, normalized)
        assert unread > 0, "the new partitions were read without a restart"

        for process in processes:  # the rolling restart: one flow after the other
            process.kill()
            process.start(tail=True)
        wait_for(
            lambda: len(posted_keys(kafka_bootstrap, topics)) >= len(expected),
            processes, SETTLE_S, "every expected posting",
            lambda: f"{len(posted_keys(kafka_bootstrap, topics))} of {len(expected)}",
        )  # fmt: skip
        truth = final_availability(tmp_path / "day", REFERENCE)
        wait_for(
            lambda: {
                key: update.available_to_sell
                for key, update in newest_availability(kafka_bootstrap, topics).items()
                if update.available_to_sell
            } == truth,
            processes, 60, "availability equal to the reference",
        )  # fmt: skip

    assert records_in(kafka_bootstrap, normalized) >= scenario.total_events
    posted = posted_keys(kafka_bootstrap, topics)
    assert [key for key, count in posted.items() if count > 1] == []
    assert set(posted) == expected
    assert all(records_in(kafka_bootstrap, [topics.availability(c)]) > 0 for c in Channel)
