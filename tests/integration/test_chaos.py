"""A short chaos run in `make test`: the flows killed -9 at random, nothing lost or doubled.

The full run (100,000 events, 10 kills) is `make chaos`; this one is small enough for every
test run and still kills each flow mid-stream several times.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from omnichannel.settings import Connections
from tests.chaos.__main__ import summary
from tests.chaos.harness import ChaosSettings, run_chaos


def test_short_chaos_run_loses_and_doubles_nothing(
    connections: Connections, tmp_path: Path
) -> None:
    settings = ChaosSettings(events=15_000, skus=300, kills=4, seed=3, pause_s=(1.5, 3.0))
    report = run_chaos(
        settings, connections.kafka_bootstrap_servers, connections.redis_url, tmp_path,
        say=print,
    )  # fmt: skip
    assert report.postings is not None
    assert report.availability is not None
    assert report.accounting is not None
    Console(width=120).print(summary(report))
    assert len(report.kills) == 4
    assert report.postings.expected > 500
    assert (report.postings.lost, report.postings.extra, report.postings.doubled) == (0, 0, 0)
    assert report.postings.unbalanced == 0
    assert report.availability.mismatches == 0, report.availability.examples
    assert report.availability.read_model_mismatches == 0
    assert report.accounting.ok, report.accounting
    assert report.accounting.exceptions > 0
