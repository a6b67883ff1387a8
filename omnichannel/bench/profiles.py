"""`python -m omnichannel.bench profile FLOW`: where one flow spends its time, by py-spy.

The flow runs on a generated day on the broker (availability and finance on what a plain
normalization run wrote), under `py-spy record --format speedscope`; the profile is written
to `out/bench/profiles/<flow>-<label>.speedscope.json` (open it at speedscope.app) with the
top functions by own time and by total time beside it in `<flow>-<label>.top.txt`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from omnichannel.bench.flows import FlowSettings, output_topics, start_flow, wired
from omnichannel.bench.scenario_input import DaySize, connect, produce_day
from omnichannel.bench.workspace import Workspace

TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class FunctionShare:
    """A function's share of the samples: as the running frame (own) and anywhere on the stack."""

    name: str
    own: float
    total: float


def top_functions(speedscope: dict[str, Any], limit: int = 25) -> list[FunctionShare]:
    """The functions with the most own time in a py-spy speedscope profile, all threads."""
    frames = speedscope["shared"]["frames"]
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0.0
    for profile in speedscope["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            names = [_frame_name(frames[index]) for index in stack]
            samples += weight
            if names:
                own[names[-1]] += weight
            for name in set(names):
                total[name] += weight
    if not samples:
        return []
    return [
        FunctionShare(name, own[name] / samples, total[name] / samples)
        for name, _ in own.most_common(limit)
    ]


def format_top(shares: list[FunctionShare]) -> str:
    lines = [f"{'own %':>6} {'total %':>7}  function"]
    lines += [f"{s.own * 100:6.1f} {s.total * 100:7.1f}  {s.name}" for s in shares]
    return "\n".join(lines) + "\n"


def run_profile(
    flow: str, size: DaySize, label: str, out_dir: Path, partitions: int = 4,
    console: Console | None = None, gc_thresholds: tuple[int, int, int] | None = None,
) -> Path:  # fmt: skip
    """Profile `flow` on a generated day; return the top-functions file."""
    console = console or Console()
    connections = connect()
    workspace = Workspace(connections.kafka_brokers)
    profiles = out_dir / "profiles"
    speedscope = profiles / f"{flow}-{label}.speedscope.json"
    log_dir = out_dir / "logs" / workspace.run_id
    settings = FlowSettings(
        connections.kafka_brokers, None, f"bench:{workspace.run_id}:",
        gc_thresholds=gc_thresholds,
    )  # fmt: skip
    try:
        day = produce_day(workspace, size, partitions)
        console.print(f"{day.events:,} events on the broker")
        canonical = workspace.stage("norm")
        normalization = wired("normalization", day.topics, canonical)
        workspace.create(output_topics("normalization", normalization), partitions)
        start_flow(
            "normalization", settings, normalization, log_dir,
            profile_to=speedscope if flow == "normalization" else None,
        ).wait_ok(TIMEOUT_S)  # fmt: skip
        if flow != "normalization":
            topics = wired(flow, canonical, workspace.stage(flow[:5]))
            workspace.create(output_topics(flow, topics), partitions)
            start_flow(flow, settings, topics, log_dir, profile_to=speedscope).wait_ok(TIMEOUT_S)
    finally:
        workspace.delete_all()
    top = format_top(top_functions(json.loads(speedscope.read_text())))
    path = profiles / f"{flow}-{label}.top.txt"
    path.write_text(
        f"# py-spy profile of {flow} ({label}): {day.events:,} generated events, "
        f"run {workspace.run_id}\n{top}",
        encoding="utf-8",
    )
    console.print(top)
    console.print(f"wrote {speedscope} and {path}")
    return path


def _frame_name(frame: dict[str, Any]) -> str:
    file = str(frame.get("file") or "")
    short = "/".join(file.split("/")[-2:]) if file else "?"
    return f"{frame.get('name', '?')} ({short})"
