"""The benchmark harness's own arithmetic: rates net of start-up, percentiles, profiles, charts."""

from __future__ import annotations

import pytest

from omnichannel.bench.latency import Percentiles, percentile
from omnichannel.bench.plot import bar_chart
from omnichannel.bench.processes import Usage
from omnichannel.bench.profiles import format_top, top_functions
from omnichannel.bench.results import Row, row_from_usage
from omnichannel.bench.state import StepState, bytes_per_key, sampled


def usage(wall: float, cpu: float, rss: int = 100) -> Usage:
    return Usage(wall_s=wall, user_s=cpu * 0.75, system_s=cpu * 0.25, max_rss_bytes=rss,
                 returncode=0)  # fmt: skip


def test_rates_are_net_of_start_up_when_the_run_is_long_enough() -> None:
    row = row_from_usage("flow", ["normalization"], 2, 10_000, 10_000, [usage(12, 10)],
                         [usage(2, 1)])  # fmt: skip
    assert row.net_of_startup
    assert row.run_s == 10
    assert row.events_per_s == 1_000
    assert row.events_per_s_per_worker == 500
    assert row.cpu_s_per_million == pytest.approx(9 / 10_000 * 1e6)
    assert row.as_json()["rate_basis"] == "net of start-up"


def test_a_run_mostly_start_up_counts_whole() -> None:
    row = row_from_usage("tiny", ["finance"], 1, 100, 90, [usage(2.1, 1.1)], [usage(2.0, 1.0)])
    assert not row.net_of_startup
    assert row.run_s == 2.1
    assert row.cpu_s_per_million == pytest.approx(1.1 / 100 * 1e6)
    assert row.as_json()["rate_basis"] == "whole run"


def test_processes_that_run_together_add_up() -> None:
    row = row_from_usage("both", ["a", "b"], 2, 1_000, 1_000, [usage(10, 4, 50), usage(9, 5, 70)],
                         [], wall_s=11.0)  # fmt: skip
    assert (row.wall_s, row.cpu_s, row.peak_rss_bytes) == (11.0, 9.0, 120)
    assert isinstance(row, Row)


def test_nearest_rank_percentiles() -> None:
    values = [float(n) for n in range(1, 1001)]
    assert [percentile(values, p) for p in (50, 99, 99.9, 100)] == [500, 990, 999, 1000]
    summary = Percentiles.of([3.0, 1.0, 2.0], unlinked=4)
    assert (summary.linked, summary.unlinked, summary.p50, summary.max) == (3, 4, 2.0, 3.0)
    assert Percentiles.of([], 2).p99 is None


def test_top_functions_of_a_speedscope_profile() -> None:
    profile = {
        "shared": {"frames": [{"name": "main", "file": "/x/run.py"},
                              {"name": "decode", "file": "/x/omnichannel/codec.py"},
                              {"name": "encode", "file": "/x/omnichannel/codec.py"}]},
        "profiles": [{"samples": [[0, 1], [0, 1], [0, 2], [0]], "weights": [1, 1, 1, 1]}],
    }  # fmt: skip
    top = top_functions(profile)
    assert [(s.name, s.own, s.total) for s in top] == [
        ("decode (omnichannel/codec.py)", 0.5, 0.5),
        ("encode (omnichannel/codec.py)", 0.25, 0.25),
        ("main (x/run.py)", 0.25, 1.0),
    ]
    assert format_top(top).splitlines()[1].strip().startswith("50.0")


def test_state_per_key_weighs_each_step_by_its_keys() -> None:
    steps = [StepState("a", 100, 10, 50.0, 40.0, 90), StepState("b", 300, 30, 10.0, 10.0, 20)]
    assert bytes_per_key(steps) == (50 * 100 + 10 * 300) / 400
    assert sampled("SKU-1", 1.0)
    assert not sampled("SKU-1", 0.0)


def test_bar_chart_draws_a_bar_per_value_and_the_marker() -> None:
    svg = bar_chart("t", [("norm", 10_000.0), ("avail", 5_000.0)], "events/s", ("ceiling", 20.0))
    assert svg.startswith("<svg")
    assert svg.count('class="bar"') == 2
    assert "ceiling" in svg
