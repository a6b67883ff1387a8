"""The benchmarks, shortened, on the real broker: every mode runs and accounts for every event.

No figure is asserted (timings depend on the machine): only that every row is there, every
number is positive, and the events add up: the ceiling and normalization wrote one record per
input, availability and finance read every input partition to its end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnichannel.bench.flows import FLOWS
from omnichannel.bench.latency import LatencySettings, run_latency
from omnichannel.bench.scaling import LAYOUTS, ScalingSettings, run_scaling
from omnichannel.bench.scenario_input import DaySize
from omnichannel.bench.throughput import ThroughputSettings, run_throughput
from omnichannel.settings import Connections

TINY = DaySize(events=3_000, sku_locations=500, seed=7)
POSITIVE = ("events", "wall_s", "run_s", "cpu_s", "peak_rss_bytes", "events_per_s",
            "events_per_s_per_worker", "cpu_s_per_million_events")  # fmt: skip


def _positive(row: dict[str, object]) -> None:
    for name in POSITIVE:
        value = row[name]
        assert isinstance(value, int | float), (row["name"], name, value)
        assert value > 0, (row["name"], name, value)


def test_throughput_rows_against_the_ceiling(connections: Connections, tmp_path: Path) -> None:
    document = run_throughput(ThroughputSettings(size=TINY, partitions=2, out_dir=tmp_path))

    written = json.loads((tmp_path / "throughput.json").read_text())
    assert written == json.loads(json.dumps(document, default=str))
    assert (tmp_path / "throughput.svg").read_text().startswith("<svg")
    rows = {row["name"]: row for row in written["rows"]}
    assert list(rows) == [
        "ceiling: raw pass-through",
        "normalization",
        "availability",
        "baseline: plain confluent-kafka loop, availability's work",
        "finance",
        "all together (3 flows)",
    ]
    for row in rows.values():
        _positive(row)
        assert row["ratio_to_ceiling"] > 0
        assert row["accounting"]["all_input_consumed"] is True
    total = written["scenario"]["events"]
    expected = written["scenario"]["expected_after_normalization"]
    assert rows["ceiling: raw pass-through"]["events"] == total
    assert rows["ceiling: raw pass-through"]["events_out"] == total
    assert rows["normalization"]["events_out"] == total
    assert rows["normalization"]["accounting"]["written_per_topic"] == {
        topic: expected.get(topic, 0)
        for topic in rows["normalization"]["accounting"]["written_per_topic"]
    }
    orders, movements, settlements = (
        expected.get(f"canonical.{name}", 0) for name in ("orders", "movements", "settlements")
    )
    assert rows["availability"]["events"] == orders + movements
    # The plain loop does the same work: every record read (the flow's end markers too), and
    # the same anomalies (oversells are a function of the input).
    loop = rows["baseline: plain confluent-kafka loop, availability's work"]
    assert loop["accounting"]["consumed"] == orders + movements + rows["availability"][
        "accounting"]["end_markers"]  # fmt: skip

    def anomalies(row: dict[str, Any]) -> int:
        written = row["accounting"]["written_per_topic"]
        return sum(n for topic, n in written.items() if topic.endswith(".integration.anomalies"))

    assert anomalies(loop) == anomalies(rows["availability"]) > 0
    assert written["availability_cpu_per_event_vs_plain_loop"] > 0
    assert rows["finance"]["events"] == orders + settlements
    assert rows["all together (3 flows)"]["events"] == total
    for name in ("availability", "finance", "all together (3 flows)"):
        assert rows[name]["state_bytes_per_key"] > 0
    for name in ("python", "bytewax", "confluent_kafka", "librdkafka", "kafka", "git_commit"):
        assert written["machine"][name]


def test_latency_with_and_without_coalescing(connections: Connections, tmp_path: Path) -> None:
    document = run_latency(
        LatencySettings(rate=200, seconds=3, sku_locations=500, partitions=2, out_dir=tmp_path)
    )

    runs = json.loads((tmp_path / "latency.json").read_text())["runs"]
    assert runs == json.loads(json.dumps(document["runs"], default=str))
    assert [run["coalesce_ms"] for run in runs] == [0, 250]
    for run in runs:
        assert run["load"]["produced"] == 600
        assert run["caught_up_s_after_load"] is not None
        topics = run["topics"]
        for topic in ("canonical.orders", "canonical.movements", "erp.postings",
                      "availability.web", "availability.pos"):  # fmt: skip
            assert topics[topic]["linked"] > 0, topic
            assert 0 <= topics[topic]["p50"] <= topics[topic]["p99"] <= topics[topic]["max"]
        assert all(usage["cpu_s"] > 0 for usage in run["flows"].values())


@pytest.mark.parametrize("flow", FLOWS)
def test_scaling_layouts(connections: Connections, tmp_path: Path, flow: str) -> None:
    run_scaling(ScalingSettings(size=TINY, partitions=2, flows=(flow,), out_dir=tmp_path))

    rows = json.loads((tmp_path / "scaling.json").read_text())["rows"]
    assert [row["name"] for row in rows] == [f"{flow}, {layout}" for layout in LAYOUTS]
    for row in rows:
        _positive(row)
        assert row["accounting"]["all_input_consumed"] is True
        assert row["detail"]["speed_up"] > 0
    assert [row["detail"]["processes"] for row in rows] == [1, 1, 2]
    assert len({row["events"] for row in rows}) == 1
