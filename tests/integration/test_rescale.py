"""Rescaling from one recovery store: 1 process, then 2, then 1 again, with the same results.

Availability and finance run side by side from the same canonical topics. Each is stopped
mid-stream (SIGKILL) as one process, resumed as a cluster of two processes from the same
recovery partitions, stopped again mid-stream, and resumed as one process to the end of its
input. The final availability of every key equals the reference computation, and the postings
equal those of an uninterrupted replay, each once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from omnichannel.codec import codec_for
from omnichannel.contracts.common import Channel
from omnichannel.contracts.journal import JournalEntry
from omnichannel.file_sink import read_avro_file
from omnichannel.reference import load_reference
from omnichannel.replay_run import replay
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from tests.chaos.flows import FlowProcess, run_to_end
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import (
    fresh_topics,
    newest_availability,
    read_topic,
    records_in,
    run_flow,
    topic_env,
)
from tests.oracle.availability import final_availability
from tests.unit.test_replay_oracle import _free_port

REFERENCE = load_reference()


def test_one_process_to_two_and_back_from_the_same_recovery_store(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    scenario = generate(ScenarioSettings(seed=11, events=30_000, skus=400), REFERENCE)
    write_jsonl(scenario, tmp_path / "day")
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(Topics().inputs, topics.inputs, strict=True))
    )
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**env, "NORMALIZE_TAIL": "false"})
    outputs = [topics.postings, *(topics.availability(channel) for channel in Channel)]

    def shape(flow: str, processes: int) -> list[FlowProcess]:
        flow_env = {
            **env,
            "RECOVERY_DIR": str(tmp_path / "recovery" / flow),
            "RECOVERY_PARTITIONS": "4",
            "SNAPSHOT_INTERVAL_S": "1",
            "BACKUP_INTERVAL_S": "0",
        }
        if processes == 1:
            return [FlowProcess(flow, flow_env, tmp_path / "logs")]
        first_port = _free_port()
        return [
            FlowProcess(flow, flow_env, tmp_path / "logs", cluster=(n, processes, first_port))
            for n in range(processes)
        ]

    written = [0]
    for processes in (1, 2):
        running = shape("availability", processes) + shape("finance", processes)
        stop_mid_stream(running, lambda: records_in(kafka_bootstrap, outputs), written)
    run_to_end(shape("availability", 1) + shape("finance", 1))
    assert records_in(kafka_bootstrap, outputs) > written[-1], "nothing was left after the stops"

    newest = newest_availability(kafka_bootstrap, topics)
    expected = final_availability(tmp_path / "day", REFERENCE)
    assert {k: u.available_to_sell for k, u in newest.items() if u.available_to_sell} == expected

    replay(tmp_path / "day", tmp_path / "uninterrupted", REFERENCE)
    uninterrupted = {
        entry["idempotency_key"]
        for entry in read_avro_file(tmp_path / "uninterrupted" / f"{Topics().postings}.avro")
    }
    codec = codec_for(JournalEntry, None)
    posted = Counter(
        codec.decode_model(record.value).idempotency_key
        for record in read_topic(kafka_bootstrap, topics.postings)
    )
    assert [key for key, count in posted.items() if count > 1] == []
    assert set(posted) == uninterrupted


def stop_mid_stream(
    running: list[FlowProcess], progress: Callable[[], int], written: list[int]
) -> None:
    """Start the processes tailing; SIGKILL them all once they have written 3,000 more records.

    Also requires a snapshot to have been taken since (they snapshot every second), so that the
    next shape resumes from state this shape wrote.
    """
    for process in running:
        process.start(tail=True)
    try:
        deadline = time.monotonic() + 120
        while progress() < written[-1] + 3_000:
            for process in running:
                assert process.running, f"{process.name} died:\n{process.log_tail()}"
            assert time.monotonic() < deadline, "no progress in 2 minutes"
            time.sleep(0.2)
        time.sleep(1.5)
    finally:
        for process in running:
            process.kill()
    written.append(progress())
