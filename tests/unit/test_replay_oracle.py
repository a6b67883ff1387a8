"""The replayed trading day's final availability equals a reference computation, per key.

The oracle (tests/oracle/availability.py) reads the raw files and applies CHANNELS.md's rules
in plain Python; the flow runs the real steps, with one worker and with 2 processes x 2
workers. Every (channel, SKU[, store]) must agree, to the unit.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from bytewax.testing import run_main

from dataflows.replay import build
from omnichannel.file_sink import read_avro_file
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import write_jsonl
from tests.oracle.availability import final_availability

REFERENCE = load_reference()
Key = tuple[str, str, str | None]
BYTEWAX_RUN = [sys.executable, "-m", "bytewax.run", "dataflows.replay:flow"]


@pytest.fixture(scope="module")
def trading_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated day with every kind of fault, as replay files."""
    folder = tmp_path_factory.mktemp("day")
    write_jsonl(
        generate(ScenarioSettings(seed=20261127, events=6_000, skus=150), REFERENCE), folder
    )
    return folder


def published(folder: Path) -> dict[Key, int]:
    """The newest published number per key, for keys whose number is above zero."""
    newest: dict[Key, tuple[int, int]] = {}
    for path in folder.glob("availability.*.avro"):
        for update in read_avro_file(path):
            key = (update["channel"], update["sku"], update["location"])
            if key not in newest or update["version"] > newest[key][1]:
                newest[key] = (update["available_to_sell"], update["version"])
    return {key: number for key, (number, _) in newest.items() if number > 0}


def differences(got: dict[Key, int], expected: dict[Key, int]) -> list[tuple[Key, int, int]]:
    return sorted(
        (key, got.get(key, 0), expected.get(key, 0))
        for key in set(got) | set(expected)
        if got.get(key, 0) != expected.get(key, 0)
    )


def test_one_worker_matches_the_oracle(trading_day: Path, tmp_path: Path) -> None:
    run_main(build(trading_day, tmp_path, REFERENCE))
    expected = final_availability(trading_day, REFERENCE)
    assert len(expected) > 100, "the scenario should leave stock on many keys"
    assert differences(published(tmp_path), expected) == []


def test_two_processes_of_two_workers_match_the_oracle(trading_day: Path, tmp_path: Path) -> None:
    ports = [_free_port(), _free_port()]
    addresses = ";".join(f"127.0.0.1:{port}" for port in ports)
    env = {**os.environ, "REPLAY_INPUT_DIR": str(trading_day), "REPLAY_OUTPUT_DIR": str(tmp_path)}
    processes = [
        subprocess.Popen(
            [*BYTEWAX_RUN, "-w", "2", "-i", str(process_id), "-a", addresses],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for process_id in range(2)
    ]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert differences(published(tmp_path), final_availability(trading_day, REFERENCE)) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
