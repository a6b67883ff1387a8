"""`up` twice is harmless and `down` stops exactly what `up` started, on a stack of its own."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from omnichannel import localstack


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_up_twice_then_down_leaves_nothing_running(tmp_path: Path, kafka_bootstrap: str) -> None:
    # Kafka is handed over as the user's own, so only a Redis of this test's is started.
    env = {
        "OMNI_STACK_DIR": str(tmp_path),
        "OMNI_REDIS_PORT": str(_free_port()),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    layout = localstack.StackLayout.from_env(env)

    _, first = localstack.up(env)
    pid = localstack.running(layout, "redis")
    _, second = localstack.up(env)

    assert [(s.name, s.started) for s in first] == [("kafka", False), ("redis", True)]
    assert [(s.name, s.started) for s in second] == [("kafka", False), ("redis", False)]
    assert pid is not None
    assert localstack.running(layout, "redis") == pid

    assert localstack.down(env) == ["redis"]
    assert localstack.running(layout, "redis") is None
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    assert localstack.down(env) == []


def test_a_taken_port_is_named(tmp_path: Path, kafka_bootstrap: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env = {
            "OMNI_STACK_DIR": str(tmp_path),
            "OMNI_REDIS_PORT": str(squatter.getsockname()[1]),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        }
        with pytest.raises(localstack.StackError, match="OMNI_REDIS_PORT"):
            localstack.up(env)


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
