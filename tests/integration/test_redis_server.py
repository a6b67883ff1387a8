"""The real Redis server: a round trip through a pipeline, kept inside the test's namespace."""

from __future__ import annotations

from tests.conftest import RedisNamespace


def test_pipelined_round_trip(redis_namespace: RedisNamespace) -> None:
    client = redis_namespace.client
    keys = [redis_namespace.key("atp", "web", f"SKU-{n}") for n in range(100)]
    with client.pipeline(transaction=False) as pipe:
        for n, key in enumerate(keys):
            pipe.hset(key, mapping={"available": n, "version": 1})
        pipe.execute()

    assert client.hgetall(keys[42]) == {b"available": b"42", b"version": b"1"}
    assert sorted(client.scan_iter(match=redis_namespace.prefix + "*")) == sorted(
        key.encode() for key in keys
    )
