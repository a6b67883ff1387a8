"""Servers of a test's own, on free loopback ports, to stop and start at will.

The shared local stack is left alone: a test that takes a server down must not take it from
every other test (or a developer's shell) at the same time.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from omnichannel import localstack
from omnichannel.localstack import StackLayout, ensure_command, wait_for_redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OwnRedis:
    """A redis-server of the test's own, to kill and restart at will.

    Without `persistent` it comes back empty, as a cache would; with it, it keeps its data in
    an append-only file across restarts, as a production read model's server does.
    """

    port: int
    log: Path
    persistent: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [ensure_command("redis-server", "redis-server"), "--port", str(self.port)]
        command += ["--bind", "127.0.0.1", "--save", "", "--dir", str(self.log.parent)]
        command += ["--appendonly", "yes" if self.persistent else "no"]
        command += ["--appendfilename", f"redis-{self.port}.aof"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for_redis(self.url, self.process.pid, self.log)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Shut down the way an operator does (SIGTERM): a persistent server saves first."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """Started by the test; killed at the end whatever happened."""
    server = OwnRedis(free_port(), tmp_path / "redis.log")
    try:
        yield server
    finally:
        server.kill()


@dataclass
class OwnBroker:
    """A single-node KRaft broker of the test's own, with the shared stack's jars."""

    layout: StackLayout

    @property
    def bootstrap(self) -> str:
        return self.layout.kafka_bootstrap

    def start(self) -> None:
        localstack.start_kafka(self.layout)

    def stop(self) -> None:
        """A controlled shutdown (SIGTERM), as a rolling restart does."""
        localstack.down({"OMNI_STACK_DIR": str(self.layout.root)})
        assert localstack.running(self.layout, "kafka") is None


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    """Started for the test; stopped at the end whatever happened."""
    layout = StackLayout(tmp_path / "stack", free_port(), free_port(), free_port())
    shared = StackLayout.from_env()
    localstack.ensure_kafka_jars(shared)
    layout.kafka_lib.parent.mkdir(parents=True)
    layout.kafka_lib.symlink_to(shared.kafka_lib, target_is_directory=True)
    broker = OwnBroker(layout)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
