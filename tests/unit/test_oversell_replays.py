"""The file replay gives the same oversells and the same final numbers whatever its batches and
workers: oversells are judged in event time, not in the order a batch hands changes over.

Before, a 15,052-event day gave 1,971 oversells with 1,000-line batches; a 15,000-event day
of seed 7 gave 194 with 1-record batches, 413 with 1,000 (1 worker) and 326 (2 workers). Now
194 in every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omnichannel.file_sink import read_avro_file
from omnichannel.reference import load_reference
from omnichannel.replay_run import replay
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import write_jsonl
from omnichannel.topics import Topics

REFERENCE = load_reference()
RUNS = [(1, 1), (7, 1), (1_000, 1), (1_000, 2), (7, 2)]  # (records per batch, workers)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("day")
    write_jsonl(generate(ScenarioSettings(seed=7, events=6_000, skus=150), REFERENCE), folder)
    return folder


def outcome(day: Path, out: Path, batch: int, workers: int) -> tuple[set[Any], dict[Any, int]]:
    replay(day, out, REFERENCE, workers=workers, batch_size=batch)
    anomalies = read_avro_file(out / f"{Topics().anomalies}.avro")
    oversells = {
        (a["anomaly_id"], a["quantity"], a["details"]["free"])
        for a in anomalies
        if a["anomaly_type"] == "oversell"
    }
    newest: dict[Any, tuple[int, int]] = {}
    for topic in (f"{Topics().availability_prefix}{c}" for c in ("web", "pos", "marketplace")):
        for u in read_avro_file(out / f"{topic}.avro"):
            key = (u["channel"], u["sku"], u["location"])
            if key not in newest or u["version"] > newest[key][0]:
                newest[key] = (u["version"], u["available_to_sell"])
    return oversells, {key: number for key, (_, number) in newest.items()}


def test_every_batching_and_worker_count_gives_the_same_oversells(
    day: Path, tmp_path: Path
) -> None:
    results = {run: outcome(day, tmp_path / f"{run[0]}x{run[1]}", *run) for run in RUNS}
    oversells, numbers = results[(1, 1)]
    assert len(oversells) > 20, "the day should oversell, or the test proves nothing"
    for run, (found, final) in results.items():
        assert found == oversells, (
            f"{run}: {len(found - oversells)} extra, {len(oversells - found)} missing"
        )
        assert final == numbers, run
