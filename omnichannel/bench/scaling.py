"""`make bench-scaling`: the same work on 1 worker, 2 workers in one process, and 2 processes.

One generated day on topics of several partitions (Bytewax spreads partitions over the
workers); normalization's output, read by availability and finance, is written once,
untimed. Then each flow is run on all of its input in each layout:

- `1 worker`: `python -m bytewax.run dataflows.<flow>:flow`;
- `2 workers, 1 process`: the same with `-w 2` (threads, sharing one interpreter lock);
- `2 processes`: two processes, `-i 0` and `-i 1` with `-a "127.0.0.1:P0;127.0.0.1:P1"`,
  exchanging keyed items over TCP.

Each layout's start-up is measured on empty topics and taken off, as in `throughput`; the
speed-up is the layout's events per second over the one worker's. Accounting as in
`throughput`: normalization writes one record per input; availability and finance refuse
the end marker of every input partition.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from omnichannel.bench.flows import (
    FLOWS,
    FlowSettings,
    input_topics,
    output_topics,
    start_flow,
    wired,
)
from omnichannel.bench.machine import describe_machine, load_average
from omnichannel.bench.plot import bar_chart
from omnichannel.bench.processes import Child, Usage
from omnichannel.bench.results import (
    Row,
    document_head,
    print_rows,
    row_from_usage,
    wide_console,
    write_json,
)
from omnichannel.bench.scenario_input import DaySize, connect, produce_day
from omnichannel.bench.workspace import ExceptionWatch, Workspace, all_topics
from omnichannel.topics import Topics

DEFAULT_OUT = Path("out/bench")
LAYOUTS = ("1 worker", "2 workers, 1 process", "2 processes")
CANONICAL = ("canonical_orders", "canonical_movements", "canonical_settlements")


@dataclass(frozen=True)
class ScalingSettings:
    size: DaySize = field(default_factory=lambda: DaySize(200_000, 20_000))
    partitions: int = 4
    flows: tuple[str, ...] = FLOWS
    redis: bool = True
    coalesce_ms: int = 250
    out_dir: Path = DEFAULT_OUT
    timeout_s: float = 3600.0
    gc_thresholds: tuple[int, int, int] | None = None


def run_scaling(settings: ScalingSettings, console: Console | None = None) -> dict[str, Any]:
    """Every flow in every layout; writes `scaling.json` and `scaling.svg`."""
    if settings.partitions < 2:
        raise ValueError("scaling needs at least 2 partitions per topic, one per worker")
    console = console or wide_console()
    connections = connect()
    workspace = Workspace(connections.kafka_brokers)
    started = datetime.now(UTC)
    machine = describe_machine()
    log_dir = settings.out_dir / "logs" / workspace.run_id
    flows = FlowSettings(
        connections.kafka_brokers,
        connections.redis_url if settings.redis else None,
        f"bench:{workspace.run_id}:",
        settings.coalesce_ms,
        gc_thresholds=settings.gc_thresholds,
    )
    rows: list[Row] = []
    try:
        console.print(f"run {workspace.run_id}: generating and producing the day")
        day = produce_day(workspace, settings.size, settings.partitions)
        canonical = workspace.stage("norm")
        normalized = wired("normalization", day.topics, canonical)
        workspace.create(output_topics("normalization", normalized), settings.partitions)
        console.print("normalization's output for availability and finance (untimed)")
        start_flow("normalization", flows, normalized, log_dir, name="scaling-source").wait_ok(
            settings.timeout_s
        )
        markers = workspace.append_end_markers([getattr(canonical, name) for name in CANONICAL])
        empty = workspace.stage("empty")
        workspace.create(all_topics(empty), settings.partitions)
        for flow in settings.flows:
            for n, layout in enumerate(LAYOUTS):
                console.print(f"{flow}: {layout}")
                stage = workspace.stage(f"{flow[:5]}{n}")
                inputs = day.topics if flow == "normalization" else canonical
                topics = wired(flow, inputs, stage)
                workspace.create(output_topics(flow, topics), settings.partitions)
                startup = _run(flow, layout, flows, wired(flow, empty, stage), log_dir, "empty",
                               settings.timeout_s)  # fmt: skip
                load = load_average()
                usages = _run(flow, layout, flows, topics, log_dir, "run", settings.timeout_s)
                row = _row(workspace, flow, layout, topics, usages, startup, markers, day.events)
                row.load_average_before = load
                rows.append(row)
    finally:
        workspace.delete_all()
    for row in rows:
        single = next(r for r in rows if r.flows == row.flows and r.name.endswith(LAYOUTS[0]))
        row.detail["speed_up"] = round(row.events_per_s / single.events_per_s, 3)
    document = {
        **document_head("scaling", workspace.run_id, started, machine),
        "scenario": day.describe(),
        "settings": {
            "partitions": settings.partitions,
            "layouts": list(LAYOUTS),
            "recovery": "off (no -r)",
            "redis_read_model": settings.redis,
            "availability_coalesce_ms": settings.coalesce_ms,
            "speed_up": "events per second of the layout over that of 1 worker (same flow)",
        },
        "rows": [row.as_json() for row in rows],
    }
    write_json(settings.out_dir / "scaling.json", document)
    chart = bar_chart(
        f"Speed-up over one worker ({day.events:,} events, run {workspace.run_id})",
        [(row.name, row.detail["speed_up"] * 100) for row in rows],
        "events per second, % of one worker's",
        marker=("1 worker", 100.0),
    )
    (settings.out_dir / "scaling.svg").write_text(chart + "\n", encoding="utf-8")
    print_rows(f"Scaling, run {workspace.run_id}", rows, console)
    for row in rows:
        console.print(f"{row.name}: speed-up {row.detail['speed_up']:.2f}")
    console.print(f"wrote {settings.out_dir / 'scaling.json'} and scaling.svg")
    return document


def _run(
    flow: str,
    layout: str,
    flows: FlowSettings,
    topics: Topics,
    log_dir: Path,
    what: str,
    timeout_s: float,
) -> list[Usage]:
    """Run the flow in the layout to the end of its input; the usage of each process."""
    name = f"{flow}-{LAYOUTS.index(layout)}-{what}"
    if layout == "1 worker":
        children = [start_flow(flow, flows, topics, log_dir, name=name)]
    elif layout == "2 workers, 1 process":
        children = [start_flow(flow, flows, topics, log_dir, name=name, workers=2)]
    else:
        addresses = ";".join(f"127.0.0.1:{port}" for port in _free_ports(2))
        children = [
            start_flow(flow, flows, topics, log_dir, name=f"{name}-{index}",
                       process=(index, addresses))
            for index in range(2)
        ]  # fmt: skip
    return _wait_all(children, timeout_s)


def _wait_all(children: list[Child], timeout_s: float) -> list[Usage]:
    try:
        return [child.wait_ok(timeout_s) for child in children]
    finally:
        for child in children:
            child.stop()


def _row(
    workspace: Workspace,
    flow: str,
    layout: str,
    topics: Topics,
    usages: list[Usage],
    startup: list[Usage],
    markers: set[tuple[str, int, int]],
    raw_events: int,
) -> Row:
    inputs = input_topics(flow, topics)
    mine = {marker for marker in markers if marker[0] in inputs}
    written = workspace.end_offsets(output_topics(flow, topics))
    if flow == "normalization":
        events = raw_events
        consumed = sum(written.values()) == events
    else:
        events = sum(workspace.end_offsets(inputs).values()) - len(mine)
        watch = ExceptionWatch(workspace.brokers, topics.exceptions)
        try:
            watch.wait_for(mine, flow, timeout_s=60)
            consumed = True
        finally:
            watch.close()
    workers = 1 if layout == LAYOUTS[0] else 2
    row = row_from_usage(
        f"{flow}, {layout}", [flow], workers, events,
        sum(written.values()) - (0 if flow == "normalization" else len(mine)),
        usages, startup,
    )  # fmt: skip
    row.accounting = {"all_input_consumed": consumed, "written_per_topic": written}
    row.detail = {"processes": len(usages), "per_process": [u.as_json() for u in usages]}
    if not consumed:
        raise RuntimeError(f"{row.name}: the events do not add up: {row.accounting}")
    return row


def _free_ports(count: int) -> list[int]:
    """Ports free now on the loopback (the processes bind them a moment later)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()
