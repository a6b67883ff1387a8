"""A paused finance process (a GC pause, a frozen node) whose successor took over, woken again:
it must not post a thing, and must say it was fenced.

On the real broker: finance posts a day while normalization feeds it; finance is stopped with
SIGSTOP mid-write; a successor starts on the same recovery partitions (it waits for the
paused process's lease to lapse), resumes and posts; the paused process is continued for 20
seconds and then stopped; the successor posts the rest. Every expected posting is there once.

Twice: on the same recovery store (the lease stops the zombie as it wakes), and on a copy of it
(a node whose volume was restored elsewhere while the old node froze: the zombie keeps its own
store and lease, and only Kafka's fencing of its transactional producer stops it).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from omnichannel.recovery_owner import EXIT_FENCED
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from tests.chaos.flows import FlowProcess
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import fresh_topics, records_in, topic_env
from tests.integration.live_flows import (
    REFERENCE,
    SETTLE_S,
    expected_postings,
    posted_keys,
    wait_for,
)

pytestmark = pytest.mark.integration
ZOMBIE_AWAKE_S = 20


@pytest.mark.parametrize("store", ["same", "copied"])
def test_a_paused_finance_process_woken_after_its_successor_took_over_posts_nothing(
    store: str, kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic, input_partitions=2)
    scenario = generate(ScenarioSettings(seed=41, events=12_000, skus=300), REFERENCE)
    write_jsonl(scenario, tmp_path / "day")
    expected = expected_postings(tmp_path / "day", tmp_path / "uninterrupted")
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(Topics().inputs, topics.inputs, strict=True))
    )
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SNAPSHOT_INTERVAL_S": "2",
        "RECOVERY_PARTITIONS": "2",
        "RECOVERY_LEASE_S": "4",
        "RECOVERY_OWNER_WAIT_S": "120",
        **topic_env(topics),
    }
    normalization = FlowProcess(
        "normalization", {**env, "RECOVERY_DIR": str(tmp_path / "recovery" / "normalization")},
        tmp_path / "logs",
    )  # fmt: skip
    finance_env = {**env, "RECOVERY_DIR": str(tmp_path / "recovery" / "finance")}
    zombie = FlowProcess("finance", finance_env, tmp_path / "logs" / "zombie")
    successor_env = finance_env
    if store == "copied":
        successor_env = {**env, "RECOVERY_DIR": str(tmp_path / "restored" / "finance")}
    successor = FlowProcess("finance", successor_env, tmp_path / "logs" / "successor")
    processes = [normalization, zombie]
    normalization.start(tail=True)
    zombie.start(tail=True)
    try:
        wait_for(
            lambda: records_in(kafka_bootstrap, [topics.postings]) > 800,
            processes, 180, "postings being written",
        )  # fmt: skip
        assert zombie.process is not None
        os.killpg(zombie.process.pid, signal.SIGSTOP)
        paused_at = records_in(kafka_bootstrap, [topics.postings])
        if store == "copied":
            shutil.copytree(finance_env["RECOVERY_DIR"], successor_env["RECOVERY_DIR"])

        successor.start(tail=True)
        wait_for(
            lambda: records_in(kafka_bootstrap, [topics.postings]) > paused_at + 200,
            [normalization, successor], 180, "the successor posting",
            lambda: successor.log_tail(),
        )  # fmt: skip
        assert "took over from" in successor.log_tail(100_000)

        os.killpg(zombie.process.pid, signal.SIGCONT)
        woken = time.monotonic()
        while zombie.running and time.monotonic() - woken < ZOMBIE_AWAKE_S:
            time.sleep(0.5)
        zombie_status = zombie.process.poll()
        zombie.kill()

        wait_for(
            lambda: len(posted_keys(kafka_bootstrap, topics)) >= len(expected),
            [normalization, successor], SETTLE_S, "every expected posting",
            lambda: f"missing {sorted(expected - set(posted_keys(kafka_bootstrap, topics)))[:5]}",
        )  # fmt: skip
        time.sleep(3)  # anything a zombie doubled late would be on the topic by now
    finally:
        for process in (normalization, zombie, successor):
            process.kill()

    posted = posted_keys(kafka_bootstrap, topics)
    assert [key for key, count in posted.items() if count > 1] == []
    assert set(posted) == expected
    zombie_log = zombie.log_tail(200_000)
    if store == "same":
        # Its lease renewal finds the successor's lease as soon as it runs, and ends it; its
        # worker, woken at the same moment, may reach its fenced producer first. Either stops it.
        by_lease = "fenced: recovery store" in zombie_log and zombie_status == EXIT_FENCED
        by_kafka = "fenced: another process took over these postings" in zombie_log
        assert by_lease or by_kafka, (zombie_status, zombie_log[-3000:])
        assert zombie_status not in (None, 0), f"the zombie ran on for {ZOMBIE_AWAKE_S}s"
    else:
        assert "fenced: another process took over these postings" in zombie_log, zombie_log[-3000:]
        assert zombie_status not in (None, 0), f"the zombie ran on for {ZOMBIE_AWAKE_S}s"
