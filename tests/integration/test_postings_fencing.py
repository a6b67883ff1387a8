"""The postings sink on the real broker: one transaction per epoch, a successor fences its
predecessor, and nothing uncommitted is ever read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from omnichannel.kafka_io import OutboundRecord
from omnichannel.postings_sink import _PostingsPartition, keys_written
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import read_topic

pytestmark = pytest.mark.integration
BOUND = timedelta(seconds=60)
STEP = "finance.produce_postings"


def postings(topic: str, *keys: str) -> list[OutboundRecord]:
    return [OutboundRecord(topic, key.encode(), f"entry {key}".encode()) for key in keys]


def test_a_successor_fences_a_paused_predecessor_and_keeps_what_it_committed(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic("postings")
    brokers = [kafka_bootstrap]
    zombie = _PostingsPartition(brokers, topic, 0, None, STEP, BOUND)
    zombie.write_batch(postings(topic, "invoice:1", "invoice:2"))
    after_first = zombie.snapshot()
    zombie.write_batch(postings(topic, "invoice:3", "credit:1"))
    # Not committed: a reader sees only the first epoch.
    assert [r.key for r in read_topic(kafka_bootstrap, topic)] == [b"invoice:1", b"invoice:2"]

    # The zombie paused here; its successor resumes from the snapshot before the first epoch.
    successor = _PostingsPartition(brokers, topic, 0, None, STEP, BOUND)
    with pytest.raises(RuntimeError, match="fenced"):
        zombie.snapshot()
    successor.write_batch(postings(topic, "invoice:1", "invoice:2", "invoice:3", "credit:1"))
    successor.snapshot()
    successor.close()

    keys = [r.key for r in read_topic(kafka_bootstrap, topic)]
    assert keys == [b"invoice:1", b"invoice:2", b"invoice:3", b"credit:1"]
    # Resuming from the first snapshot reads only what came after it.
    after, _ = keys_written(brokers, topic, 0, after_first)
    assert after == {b"invoice:3", b"credit:1"}


def test_a_crash_before_the_commit_leaves_nothing_a_reader_sees(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic("postings")
    brokers = [kafka_bootstrap]
    crashed = _PostingsPartition(brokers, topic, 0, None, STEP, BOUND)
    crashed.write_batch(postings(topic, "invoice:9"))
    crashed._producer.flush(10)  # on the broker, in an open transaction, then the process died
    successor = _PostingsPartition(brokers, topic, 0, None, STEP, BOUND)
    assert successor._already == set()
    successor.write_batch(postings(topic, "invoice:9"))
    successor.snapshot()

    assert [r.key for r in read_topic(kafka_bootstrap, topic)] == [b"invoice:9"]
