"""Fixtures for tests against the real Kafka broker and Redis server.

The servers are the user's when `KAFKA_BOOTSTRAP_SERVERS` / `REDIS_URL` are set, otherwise the
local stack, started on first use and stopped at the end of the run if this run started it.
Every test gets fresh topic names (deleted afterwards) and its own Redis key namespace.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from confluent_kafka.admin import AdminClient, NewTopic

from omnichannel import localstack
from omnichannel.kafka_admin import KEEP_RECORDS
from omnichannel.settings import Connections

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration needs the servers, and is marked so."""
    for item in items:
        if INTEGRATION_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def connections() -> Iterator[Connections]:
    """Where Kafka and Redis are: the user's, or the local stack brought up for this run."""
    found, states = localstack.up()
    yield found
    started = [state.name for state in states if state.started]
    if started:
        localstack.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(connections: Connections) -> str:
    return connections.kafka_bootstrap_servers


@dataclass
class TopicFactory:
    """Creates uniquely named topics for one test and deletes them afterwards."""

    admin: AdminClient
    prefix: str
    created: list[str] = field(default_factory=list)

    def __call__(self, name: str = "topic", partitions: int = 1) -> str:
        return self.adopt(f"{self.prefix}.{name}.{uuid.uuid4().hex[:8]}", partitions)

    def adopt(self, topic: str, partitions: int = 1) -> str:
        """Create a topic under a name the test chose; it is deleted afterwards all the same."""
        futures = self.admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=KEEP_RECORDS)],
            operation_timeout=30,
        )
        futures[topic].result(timeout=60)
        self.created.append(topic)
        return topic

    def delete_all(self) -> None:
        if not self.created:
            return
        futures = self.admin.delete_topics(self.created, operation_timeout=30)
        for future in futures.values():
            future.result(timeout=60)


@pytest.fixture
def new_topic(request: pytest.FixtureRequest, kafka_bootstrap: str) -> Iterator[TopicFactory]:
    """Call `new_topic("orders", partitions=3)` for a fresh topic; all are deleted afterwards."""
    _require_integration_mark(request)
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:60].strip("-")
    factory = TopicFactory(AdminClient({"bootstrap.servers": kafka_bootstrap}), f"test.{slug}")
    yield factory
    factory.delete_all()


@dataclass(frozen=True)
class RedisNamespace:
    """A Redis client and a key prefix no other test uses."""

    client: redis.Redis
    prefix: str

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)


@pytest.fixture
def redis_namespace(
    request: pytest.FixtureRequest, connections: Connections
) -> Iterator[RedisNamespace]:
    """A Redis connection whose keys live under a per-test prefix, deleted afterwards."""
    _require_integration_mark(request)
    client = redis.Redis.from_url(connections.redis_url)
    namespace = RedisNamespace(client, f"test:{uuid.uuid4().hex}:")
    yield namespace
    stale = list(client.scan_iter(match=namespace.prefix + "*", count=1000))
    if stale:
        client.delete(*stale)
    client.close()


def _require_integration_mark(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("integration") is None:
        pytest.fail(f"{request.node.nodeid} uses a real server: mark it `integration`")
