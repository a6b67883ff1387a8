"""The read model on a real Redis: compare-and-set, one round trip per batch, outages survived."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import bytewax.operators as op
import pytest
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from redis.connection import AbstractConnection

from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from omnichannel.settings import Connections
from state.read_model import (
    ReadModelError,
    ReadModelWriter,
    RedisReadModelSink,
    WriteResult,
    availability_key,
    hash_fields,
    read_availability,
)
from state.read_model_cli import run_availability
from tests.conftest import RedisNamespace
from tests.integration.own_servers import OwnRedis
from tests.unit.contract_examples import WEB_AVAILABILITY

# A batch held back by an outage must not hold the flow up for longer than this.
MAX_BATCH_WHILE_DOWN_S = 2.0


def web(sku: str, version: int, available: int = 10) -> AvailabilityUpdate:
    return WEB_AVAILABILITY.model_copy(
        update={"sku": sku, "version": version, "available_to_sell": available}
    )


def pos(sku: str, location: str, version: int) -> AvailabilityUpdate:
    return WEB_AVAILABILITY.model_copy(
        update={"channel": Channel.POS, "sku": sku, "location": location, "version": version}
    )


@pytest.fixture
def writer(connections: Connections, redis_namespace: RedisNamespace) -> Iterator[ReadModelWriter]:
    """A writer on the shared server, its keys inside the test's namespace."""
    writer = ReadModelWriter(connections.redis_url, prefix=redis_namespace.prefix)
    yield writer
    writer.close()


def stored(namespace: RedisNamespace, update: AvailabilityUpdate) -> dict[str, str]:
    """The hash at the update's key, as text."""
    key = availability_key(namespace.prefix, update.channel, update.sku, update.location)
    raw = namespace.client.hgetall(key)
    return {text(name): text(value) for name, value in raw.items()}


def text(stored: bytes | str) -> str:
    return stored.decode() if isinstance(stored, bytes) else stored


def test_a_newer_version_applies(writer: ReadModelWriter, redis_namespace: RedisNamespace) -> None:
    first, newer = web("SKU-1", 1, available=10), web("SKU-1", 2, available=8)

    assert writer.write([first]) == WriteResult(applied=1, stale=0)
    assert writer.write([newer]) == WriteResult(applied=1, stale=0)

    assert stored(redis_namespace, newer) == hash_fields(newer)
    found = read_availability(redis_namespace.client, redis_namespace.prefix, "web", "SKU-1")
    assert found is not None
    assert (found["available"], found["version"]) == (8, 2)


def test_an_older_or_equal_version_is_refused_and_changes_nothing(
    writer: ReadModelWriter, redis_namespace: RedisNamespace
) -> None:
    current = web("SKU-1", 5, available=3)
    writer.write([current])

    result = writer.write([web("SKU-1", 5, available=99)])
    result_older = writer.write([web("SKU-1", 4, available=99)])

    assert (result, result_older) == (WriteResult(0, 1), WriteResult(0, 1))
    assert stored(redis_namespace, current) == hash_fields(current)


def test_locations_are_keys_of_their_own(
    writer: ReadModelWriter, redis_namespace: RedisNamespace
) -> None:
    writer.write([pos("SKU-1", "S-014", 3), pos("SKU-1", "S-015", 1)])

    client, prefix = redis_namespace.client, redis_namespace.prefix
    at_014 = read_availability(client, prefix, "pos", "SKU-1", "S-014")
    at_015 = read_availability(client, prefix, "pos", "SKU-1", "S-015")
    assert at_014 is not None
    assert at_015 is not None
    assert (at_014["version"], at_015["version"]) == (3, 1)
    assert read_availability(client, prefix, "pos", "SKU-1") is None


def test_a_batch_of_many_keys_is_one_round_trip(
    writer: ReadModelWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.write([web("SKU-warm-up", 1)])  # connects, and loads the script if Redis lacks it
    sends: list[int] = []
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        sends.append(1)
        send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    batch = [web(f"SKU-{n}", version) for n in range(1000) for version in (2, 1)]

    result = writer.write(batch)

    assert result == WriteResult(applied=1000, stale=1000)
    assert len(sends) == 1


def test_a_key_of_another_type_fails_loudly(
    writer: ReadModelWriter, redis_namespace: RedisNamespace
) -> None:
    redis_namespace.client.set(redis_namespace.key("atp", "web", "SKU-1"), "not a hash")

    with pytest.raises(ReadModelError, match=r"atp:web:SKU-1: WRONGTYPE"):
        writer.write([web("SKU-1", 1)])


def test_flow_leaves_the_newest_version_of_each_key(
    connections: Connections, redis_namespace: RedisNamespace
) -> None:
    updates = [web("SKU-1", 1), web("SKU-1", 3), web("SKU-1", 2), pos("SKU-1", "S-014", 4)]
    sink = RedisReadModelSink(connections.redis_url, prefix=redis_namespace.prefix)
    flow = Dataflow("read_model_test")
    op.output("read_model", op.input("updates", flow, TestingSource(updates)), sink)

    run_main(flow)

    assert stored(redis_namespace, web("SKU-1", 3)) == hash_fields(web("SKU-1", 3))
    assert stored(redis_namespace, updates[3]) == hash_fields(updates[3])
    [partition] = sink.partitions
    assert (partition.applied + partition.stale, partition.pending) == (4, 0)


def test_availability_command_prints_the_number_and_its_inputs(
    writer: ReadModelWriter,
    connections: Connections,
    redis_namespace: RedisNamespace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer.write([pos("SKU-1", "S-014", 7)])
    monkeypatch.setenv("REDIS_URL", connections.redis_url)
    args = argparse.Namespace(
        sku="SKU-1", channel="pos", location="S-014", prefix=redis_namespace.prefix
    )

    assert run_availability(args) == 0

    out = capsys.readouterr().out
    assert f"{redis_namespace.prefix}atp:pos:SKU-1:S-014: 103 available to sell" in out
    assert "on_hand          120" in out
    assert "version          7" in out


def test_availability_command_fails_for_a_key_never_written(
    connections: Connections,
    redis_namespace: RedisNamespace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", connections.redis_url)
    args = argparse.Namespace(
        sku="SKU-0", channel="web", location=None, prefix=redis_namespace.prefix
    )

    assert run_availability(args) == 1
    assert f"nothing stored at {redis_namespace.prefix}atp:web:SKU-0" in capsys.readouterr().err


def timed(action: Callable[[], None]) -> float:
    began = time.monotonic()
    action()
    return time.monotonic() - began


def versions(server: OwnRedis, *skus: str) -> dict[str, int | str | None]:
    """The stored version of each web SKU on the test's own server."""
    client = redis.Redis.from_url(server.url)
    try:
        found = {sku: read_availability(client, "omni:", "web", sku) for sku in skus}
    finally:
        client.close()
    return {sku: None if fields is None else fields["version"] for sku, fields in found.items()}


def test_sink_keeps_going_while_redis_is_down_and_catches_up_when_it_returns(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    own_redis.start()
    partition = RedisReadModelSink(own_redis.url).build("read_model", 0, 1)
    partition.write_batch([web("SKU-1", 1), web("SKU-2", 1)])
    assert (partition.applied, partition.pending) == (2, 0)

    own_redis.kill()
    with caplog.at_level(logging.WARNING, logger="state.read_model"):
        for version in (2, 3, 4):
            batch = [web("SKU-1", version), web("SKU-2", version)]
            assert timed(partial(partition.write_batch, batch)) < MAX_BATCH_WHILE_DOWN_S
    assert partition.pending == 2
    assert len(caplog.records) == 1
    assert "Redis read model unreachable" in caplog.records[0].message

    # Back empty (no persistence) and without the script: the retry thread catches up with no
    # further batch, and batches are written directly again.
    own_redis.start()
    deadline = time.monotonic() + 10
    while partition.pending:
        assert time.monotonic() < deadline, "the read model did not catch up in 10 s"
        time.sleep(0.05)
    assert versions(own_redis, "SKU-1", "SKU-2") == {"SKU-1": 4, "SKU-2": 4}
    partition.write_batch([web("SKU-1", 5)])
    assert partition.pending == 0
    assert versions(own_redis, "SKU-1", "SKU-2") == {"SKU-1": 5, "SKU-2": 4}

    # A second outage, caught up on close this time.
    own_redis.kill()
    partition.write_batch([web("SKU-1", 6), web("SKU-2", 6), web("SKU-2", 5)])
    assert partition.pending == 2
    own_redis.start()
    partition.close()

    assert versions(own_redis, "SKU-1", "SKU-2") == {"SKU-1": 6, "SKU-2": 6}
    assert (partition.applied, partition.pending, partition.outages) == (7, 0, 2)
    assert partition.applied + partition.stale == 12
