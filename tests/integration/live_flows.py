"""Helpers for tests that run the three flows live against a day that arrives in parts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from omnichannel.codec import codec_for
from omnichannel.contracts.journal import JournalEntry
from omnichannel.file_sink import read_avro_file
from omnichannel.reference import load_reference
from omnichannel.replay_run import replay
from omnichannel.scenario.records import Scenario
from omnichannel.topics import Topics
from tests.chaos.flows import FLOWS, FlowProcess
from tests.integration.kafka_topics import read_topic

REFERENCE = load_reference()
SETTLE_S = 180


def halves(scenario: Scenario) -> tuple[Scenario, Scenario]:
    first = {topic: rows[: len(rows) // 2] for topic, rows in scenario.records.items()}
    second = {topic: rows[len(rows) // 2 :] for topic, rows in scenario.records.items()}
    return replace(scenario, records=first), replace(scenario, records=second)


def expected_postings(day: Path, workdir: Path) -> set[str]:
    replay(day, workdir, REFERENCE)
    return {e["idempotency_key"] for e in read_avro_file(workdir / f"{Topics().postings}.avro")}


@contextmanager
def flows_running(env: dict[str, str], workdir: Path) -> Iterator[list[FlowProcess]]:
    """The three flows tailing their inputs, with recovery; SIGKILLed on the way out."""
    processes = [
        FlowProcess(
            flow,
            {**env, "RECOVERY_DIR": str(workdir / "recovery" / flow), "RECOVERY_PARTITIONS": "2"},
            workdir / "logs",
        )
        for flow in FLOWS
    ]
    for process in processes:
        process.start(tail=True)
    try:
        yield processes
    finally:
        for process in processes:
            process.kill()


def wait_for(
    condition: Callable[[], bool],
    processes: list[FlowProcess],
    within_s: float,
    what: str,
    found: Callable[[], object] = lambda: "",
) -> None:
    """Poll `condition` while every flow process stays alive; `found` explains a timeout."""
    deadline = time.monotonic() + within_s
    while not condition():
        for process in processes:
            assert process.running, f"{process.name} died:\n{process.log_tail()}"
        assert time.monotonic() < deadline, f"not within {within_s:.0f}s: {what}; {found()}"
        time.sleep(0.5)


def posted_keys(bootstrap: str, topics: Topics) -> Counter[str]:
    codec = codec_for(JournalEntry, None)
    return Counter(
        codec.decode_model(r.value).idempotency_key for r in read_topic(bootstrap, topics.postings)
    )
