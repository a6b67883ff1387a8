"""Rescaling from one recovery store: 1 process, then 2, then 1 again, with the same results.

Availability and finance run side by side from the same canonical topics. Each is stopped
mid-stream (SIGKILL) as one process, its recovery partitions spread over two directories
(`omni recovery spread`, as the runbook does), resumed as a cluster of two processes, stopped
again mid-stream, gathered back into one directory and resumed as one process to the end of
its input. The final availability of every key equals the reference computation, and the
postings equal those of an uninterrupted replay, each once.

(Two processes sharing one directory that holds every partition do not resume: Bytewax 0.21
starts such a cluster over from nothing, which doubled hundreds of postings in this test.
`omni run` refuses that layout.)
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from omnichannel.codec import codec_for
from omnichannel.contracts.common import Channel
from omnichannel.contracts.journal import JournalEntry
from omnichannel.file_sink import read_avro_file
from omnichannel.recovery import spread
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
    scenario = generate(ScenarioSettings(seed=11, events=40_000, skus=400), REFERENCE)
    write_jsonl(scenario, tmp_path / "day")
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(Topics().inputs, topics.inputs, strict=True))
    )
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**env, "NORMALIZE_TAIL": "false"})
    outputs = [topics.postings, *(topics.availability(channel) for channel in Channel)]

    def directories(flow: str, processes: int) -> list[Path]:
        if processes == 1:
            return [tmp_path / "recovery" / flow]
        return [tmp_path / "recovery" / f"{flow}-{n}-of-{processes}" for n in range(processes)]

    def shape(flow: str, processes: int) -> list[FlowProcess]:
        settings = {
            "RECOVERY_PARTITIONS": "4",
            "SNAPSHOT_INTERVAL_S": "1",
            "BACKUP_INTERVAL_S": "0",
        }
        first_port = _free_port()
        return [
            FlowProcess(
                flow,
                {**env, **settings, "RECOVERY_DIR": str(directory)},
                tmp_path / "logs",
                cluster=None if processes == 1 else (n, processes, first_port),
            )
            for n, directory in enumerate(directories(flow, processes))
        ]

    def rescale(before: int, after: int) -> None:
        """The runbook's step: the stopped flow's partitions spread over the new processes."""
        for flow in ("availability", "finance"):
            placed = spread(directories(flow, before), directories(flow, after))
            assert sorted(placed) == [0, 1, 2, 3]

    written = [0]
    for before, processes in ((None, 1), (1, 2)):
        if before is not None:
            rescale(before, processes)
        running = shape("availability", processes) + shape("finance", processes)
        stores = [directories("availability", processes), directories("finance", processes)]
        stop_mid_stream(running, lambda: records_in(kafka_bootstrap, outputs), written, stores)
    rescale(2, 1)
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
    running: list[FlowProcess],
    progress: Callable[[], int],
    written: list[int],
    stores: list[Path],
) -> None:
    """Start the processes tailing; SIGKILL them all once they have written 3,000 more records
    and their recovery stores show an epoch committed by this run, so that the next shape
    resumes from state this shape wrote (a cluster of processes commits its first epochs some
    seconds after it starts)."""
    for process in running:
        process.start(tail=True)
    try:
        deadline = time.monotonic() + 120
        while progress() < written[-1] + 3_000 or not all(map(committed_by_latest_run, stores)):
            for process in running:
                assert process.running, f"{process.name} died:\n{process.log_tail()}"
            assert time.monotonic() < deadline, "no progress in 2 minutes"
            time.sleep(0.2)
    finally:
        for process in running:
            process.kill()
    written.append(progress())


def committed_by_latest_run(directories: list[Path]) -> bool:
    """Whether every worker of the newest execution in Bytewax's recovery partitions has
    closed an epoch past the one it resumed from (the `exs` and `fronts` tables)."""
    executions: dict[int, tuple[int, int]] = {}
    frontiers: dict[int, dict[int, int]] = {}
    for directory in directories:
        for part in directory.glob("part-*.sqlite3"):
            with closing(sqlite3.connect(f"file:{part}?mode=ro", uri=True, timeout=5)) as db:
                for ex, workers, resume in db.execute(
                    "SELECT ex_num, worker_count, resume_epoch FROM exs"
                ):
                    executions[ex] = (workers, resume)
                for ex, worker, frontier in db.execute(
                    "SELECT ex_num, worker_index, worker_frontier FROM fronts"
                ):
                    frontiers.setdefault(ex, {})[worker] = frontier
    if not executions:
        return False
    latest = max(executions)
    workers, resume = executions[latest]
    closed = frontiers.get(latest, {})
    return len(closed) == workers and min(closed.values()) > resume
