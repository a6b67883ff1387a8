"""Create the project's topics: the project's own command, so that brokers need no auto-creation."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic

from omnichannel.kafka_settings import client_config

# The config of a topic that carries a generated day (tests, benchmarks): its records bear the
# day's own timestamps, a week old or more on a later date, which no time-based retention may
# delete under a run, whatever the broker's default.
KEEP_RECORDS = {"retention.ms": "-1"}


def ensure_topics(
    brokers: list[str], names: Iterable[str], partitions: int, replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AdminClient({**client_config(brokers)})
    existing = set(admin.list_topics(timeout=30).topics)
    wanted = [name for name in dict.fromkeys(names) if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
            for name in wanted
        ],
        operation_timeout=30,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=60)
            created.append(name)
        except KafkaException as exc:
            # Another process created it between our listing and our request: that is fine.
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def delete_topics(brokers: list[str], names: Iterable[str]) -> list[str]:
    """Delete those of the topics that exist; return the names deleted."""
    admin = AdminClient({**client_config(brokers)})
    existing = set(admin.list_topics(timeout=30).topics)
    doomed = [name for name in dict.fromkeys(names) if name in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result(timeout=60)
        # Deletion completes in the background; creating the same name must wait for it.
        deadline = time.monotonic() + 60
        while set(doomed) & set(admin.list_topics(timeout=30).topics):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics still listed 60s after deletion: {doomed}")
            time.sleep(0.2)
    return doomed


def grow_topics(brokers: list[str], names: Iterable[str], partitions: int) -> dict[str, int]:
    """Raise each topic to `partitions` partitions; return the count each had before.

    Kafka can add partitions, never remove them; a topic that already has as many is left
    alone, and one with more is an error (naming it), since shrinking is not possible. Keys
    hash over the new count from then on: see docs/peak-season.md for what that does to order.
    """
    admin = AdminClient({**client_config(brokers)})
    listed = admin.list_topics(timeout=30).topics
    missing = sorted(name for name in names if name not in listed)
    if missing:
        raise ValueError(f"no such topics: {', '.join(missing)}")
    before = {name: len(listed[name].partitions) for name in dict.fromkeys(names)}
    larger = sorted(name for name, count in before.items() if count > partitions)
    if larger:
        raise ValueError(
            f"{', '.join(larger)} already have more than {partitions} partitions; "
            "Kafka cannot remove partitions"
        )
    grow = [NewPartitions(name, partitions) for name, count in before.items() if count < partitions]
    if grow:
        for future in admin.create_partitions(grow, operation_timeout=30).values():
            future.result(timeout=60)
    return before
