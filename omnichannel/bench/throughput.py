"""`make bench`: each flow's throughput, one after another, against the raw Kafka ceiling.

One generated day is produced to the run's raw topics; then, in the same run:

1. the ceiling: `omnichannel.bench.passthrough` copies every raw record, no logic;
2. normalization reads the raw topics (and writes the canonical ones);
3. availability reads the canonical orders and movements step 2 wrote;
4. finance reads the canonical orders and settlements step 2 wrote;
5. all together: the three flows at once, normalization on the raw topics, the other two
   tailing what it writes; timed until both have read the last canonical record.

Every flow is a `python -m bytewax.run` process with `*_TAIL=false` (it ends at the end of its
input) and no recovery. Accounting: the ceiling and normalization write exactly one record per
input; availability and finance must refuse an end marker put after the last record of every
input partition (see `omnichannel.bench.workspace`), which proves they read everything.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from rich.console import Console

from omnichannel import collector
from omnichannel.bench.flows import (
    FLOWS,
    FlowSettings,
    input_topics,
    output_topics,
    start_flow,
    startup_costs,
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
from omnichannel.bench.scenario_input import DaySize, ProducedDay, connect, produce_day
from omnichannel.bench.state import bytes_per_key, measure_state
from omnichannel.bench.workspace import ExceptionWatch, Workspace
from omnichannel.reference import load_reference
from omnichannel.topics import Topics

DEFAULT_OUT = Path("out/bench")
CANONICAL = ("canonical_orders", "canonical_movements", "canonical_settlements")


@dataclass(frozen=True)
class ThroughputSettings:
    size: DaySize = field(default_factory=lambda: DaySize(1_000_000, 100_000))
    partitions: int = 4
    redis: bool = True
    coalesce_ms: int = 250
    state_sample: float = 0.05
    out_dir: Path = DEFAULT_OUT
    timeout_s: float = 3600.0
    tree: Path | None = None
    gc_thresholds: tuple[int, int, int] | None = None


@dataclass
class _Run:
    """What the measurements of one run share."""

    workspace: Workspace
    flows: FlowSettings
    day: ProducedDay
    log_dir: Path
    timeout_s: float
    partitions: int
    startups: dict[str, Usage] = field(default_factory=dict)


def run_throughput(settings: ThroughputSettings, console: Console | None = None) -> dict[str, Any]:
    """Run every measurement; write `throughput.json` and `throughput.svg`; return the JSON."""
    console = console or wide_console()
    connections = connect()
    brokers = connections.kafka_brokers
    workspace = Workspace(brokers)
    started = datetime.now(UTC)
    machine = describe_machine()
    log_dir = settings.out_dir / "logs" / workspace.run_id
    flows = FlowSettings(
        brokers,
        connections.redis_url if settings.redis else None,
        f"bench:{workspace.run_id}:",
        settings.coalesce_ms,
        settings.tree,
        settings.gc_thresholds,
    )
    try:
        console.print(f"run {workspace.run_id}: generating and producing the day")
        day = produce_day(workspace, settings.size, settings.partitions)
        run = _Run(workspace, flows, day, log_dir, settings.timeout_s, settings.partitions)
        console.print(f"{day.events:,} events on the broker; start-up costs on empty topics")
        run.startups = startup_costs(workspace, flows, FLOWS, settings.partitions, log_dir)
        run.startups["passthrough"] = _passthrough(run, run.workspace.stage("empty").inputs,
                                                   "passthrough-empty")[0]  # fmt: skip
        run.startups["diy"] = _diy_child(run, run.workspace.stage("empty"), "diy-empty")[0]
        console.print("1/5 ceiling: raw pass-through")
        ceiling = _ceiling(run)
        console.print("2/5 normalization")
        normalization, canonical = _normalization(run)
        markers = workspace.append_end_markers([getattr(canonical, name) for name in CANONICAL])
        console.print("state per key, from a sample of the canonical records")
        state = measure_state(
            brokers, canonical, load_reference(), timedelta(milliseconds=settings.coalesce_ms),
            settings.state_sample,
        )  # fmt: skip
        console.print("3/5 availability")
        availability = _downstream(run, "availability", canonical, markers)
        availability.state_bytes_per_key = bytes_per_key([state["order_stock"], state["sku_stock"]])
        console.print("3b/5 baseline: availability's work in a plain confluent-kafka loop")
        diy = _diy(run, canonical)
        console.print("4/5 finance")
        finance = _downstream(run, "finance", canonical, markers)
        finance.state_bytes_per_key = bytes_per_key([state["order_ledger"]])
        console.print("5/5 all together")
        together = _all_together(run)
        together.state_bytes_per_key = bytes_per_key(state.values())
        normalization.state_bytes_per_key = 0.0
        rows = [ceiling, normalization, availability, diy, finance, together]
        for row in rows:
            row.ratio_to_ceiling = row.events_per_s_per_worker / ceiling.events_per_s_per_worker
    finally:
        _forget_read_model(flows)
        workspace.delete_all()
    document = {
        **document_head("throughput", workspace.run_id, started, machine),
        "scenario": day.describe(),
        "settings": {
            "partitions": settings.partitions,
            "flows_from": str(settings.tree or "this checkout"),
            "python_gc_thresholds": list(settings.gc_thresholds or collector.DEFAULT_THRESHOLDS),
            "recovery": "off (no -r): Bytewax still snapshots each epoch in memory",
            "redis_read_model": settings.redis,
            "metrics_endpoint": "off (METRICS_PORT=0); the flows' counting taps still run",
            "availability_coalesce_ms": settings.coalesce_ms,
            "state_sample_fraction": settings.state_sample,
            "rates": "net of start-up: each command's wall and CPU on empty topics taken off",
            "state_bytes_per_key": "length of StatefulLogic.snapshot() per key, from a sample",
        },
        "ceiling_events_per_s": round(ceiling.events_per_s, 1),
        # The target is 1/3 or less: the flow at least 3x cheaper per event than the loop.
        "availability_cpu_per_event_vs_plain_loop": round(
            availability.cpu_s_per_million / diy.cpu_s_per_million, 3
        ),
        "startup": {
            name: {"wall_s": round(u.wall_s, 3), "cpu_s": round(u.cpu_s, 3)}
            for name, u in run.startups.items()
        },
        "state": {
            name: {**vars(step), "estimated_total_bytes": step.estimated_total_bytes}
            for name, step in state.items()
        },
        "rows": [row.as_json() for row in rows],
        "logs": str(log_dir),
    }
    write_json(settings.out_dir / "throughput.json", document)
    chart = bar_chart(
        f"Events per second per worker ({day.events:,} events, run {workspace.run_id})",
        [(row.name, row.events_per_s_per_worker) for row in rows[1:]],
        "events per second per worker, net of start-up",
        marker=("ceiling", ceiling.events_per_s_per_worker),
    )
    (settings.out_dir / "throughput.svg").write_text(chart + "\n", encoding="utf-8")
    print_rows(f"Throughput, run {workspace.run_id} (load {machine['load_average_1_5_15']})",
               rows, console)  # fmt: skip
    console.print(f"wrote {settings.out_dir / 'throughput.json'} and throughput.svg")
    return document


def _passthrough(run: _Run, sources: list[str], name: str) -> tuple[Usage, dict[str, int], str]:
    sink = f"bench.{run.workspace.run_id}.{name}.out"
    run.workspace.create([sink], run.partitions)
    child = Child(
        name,
        [sys.executable, "-m", "omnichannel.bench.passthrough",
         "--brokers", ",".join(run.workspace.brokers), "--to", sink, *sources],
        {"PYTHONUNBUFFERED": "1"},
        run.log_dir,
    )  # fmt: skip
    usage = child.wait_ok(run.timeout_s)
    lines = child.log_path.read_text().strip().splitlines()
    return usage, json.loads(lines[-1]), sink


def _ceiling(run: _Run) -> Row:
    load = load_average()
    usage, counts, sink = _passthrough(run, run.day.topics.inputs, "passthrough")
    written = run.workspace.end_offsets([sink])[sink]
    row = row_from_usage("ceiling: raw pass-through", ["passthrough"], 1, run.day.events,
                         written, [usage], [run.startups["passthrough"]])  # fmt: skip
    row.load_average_before = load
    row.accounting = {
        "consumed": counts["consumed"],
        "produced": counts["produced"],
        "all_input_consumed": counts["consumed"] == run.day.events == written,
    }
    _require(row)
    return row


def _normalization(run: _Run) -> tuple[Row, Topics]:
    canonical = run.workspace.stage("norm")
    topics = wired("normalization", run.day.topics, canonical)
    run.workspace.create(output_topics("normalization", topics), run.partitions)
    load = load_average()
    usage = start_flow("normalization", run.flows, topics, run.log_dir).wait_ok(run.timeout_s)
    written = run.workspace.end_offsets(output_topics("normalization", topics))
    expected = run.day.scenario.manifest["expected_counts"]
    by_default_name = dict(zip(output_topics("normalization", topics),
                               output_topics("normalization", Topics()), strict=True))  # fmt: skip
    per_topic = {by_default_name[name]: count for name, count in written.items()}
    row = row_from_usage(
        "normalization", ["normalization"], 1, run.day.events, sum(written.values()), [usage],
        [run.startups["normalization"]],
    )  # fmt: skip
    row.load_average_before = load
    row.accounting = {
        "written_per_topic": per_topic,
        "expected_per_topic": {name: expected.get(name, 0) for name in per_topic},
        "all_input_consumed": sum(written.values()) == run.day.events
        and all(count == expected.get(name, 0) for name, count in per_topic.items()),
    }
    _require(row)
    return row, canonical


def _downstream(run: _Run, flow: str, canonical: Topics, markers: set[tuple[str, int, int]]) -> Row:
    outputs = run.workspace.stage(flow[:5])
    topics = wired(flow, canonical, outputs)
    run.workspace.create(output_topics(flow, topics), run.partitions)
    inputs = input_topics(flow, topics)
    mine = {marker for marker in markers if marker[0] in inputs}
    events = sum(run.workspace.end_offsets(inputs).values()) - len(mine)
    load = load_average()
    usage = start_flow(flow, run.flows, topics, run.log_dir).wait_ok(run.timeout_s)
    watch = ExceptionWatch(run.workspace.brokers, topics.exceptions)
    try:
        # Raises unless the flow read every input partition to its end.
        watch.wait_for(mine, flow, timeout_s=60)
    finally:
        watch.close()
    written = run.workspace.end_offsets(output_topics(flow, topics))
    row = row_from_usage(flow, [flow], 1, events, sum(written.values()) - len(mine), [usage],
                         [run.startups[flow]])  # fmt: skip
    row.load_average_before = load
    row.accounting = {
        "input_per_topic": {
            name: count for name, count in run.workspace.end_offsets(inputs).items()
        },
        "end_markers": len(mine),
        "end_markers_refused": len(mine),
        "all_input_consumed": True,
        "written_per_topic": written,
    }
    return row


def _diy_child(run: _Run, topics: Topics, name: str) -> tuple[Usage, dict[str, int]]:
    # Always this checkout's loop (and domain logic): the baseline, whatever --tree says.
    env = {k: v for k, v in run.flows.env("availability", topics, False).items()
           if k != "PYTHONPATH"}  # fmt: skip
    child = Child(name, [sys.executable, "-m", "omnichannel.bench.diy"], env, run.log_dir)
    usage = child.wait_ok(run.timeout_s)
    return usage, json.loads(child.log_path.read_text().strip().splitlines()[-1])


def _diy(run: _Run, canonical: Topics) -> Row:
    """The availability flow's work done by `omnichannel.bench.diy`, on the same input."""
    topics = wired("availability", canonical, run.workspace.stage("diy"))
    run.workspace.create(output_topics("availability", topics), run.partitions)
    inputs = input_topics("availability", topics)
    offered = sum(run.workspace.end_offsets(inputs).values())
    load = load_average()
    usage, counts = _diy_child(run, topics, "diy")
    written = run.workspace.end_offsets(output_topics("availability", topics))
    row = row_from_usage("baseline: plain confluent-kafka loop, availability's work", ["diy"],
                         1, offered, sum(written.values()), [usage],
                         [run.startups["diy"]])  # fmt: skip
    row.load_average_before = load
    row.accounting = {
        "consumed": counts["consumed"],
        "produced": counts["produced"],
        "all_input_consumed": counts["consumed"] == offered,
        "written_per_topic": written,
    }
    _require(row)
    return row


def _all_together(run: _Run) -> Row:
    stage = run.workspace.stage("all")
    # Normalization's own exception topic: the other two refuse the end markers onto theirs.
    normalized = wired("normalization", run.day.topics, stage).model_copy(
        update={"exceptions": stage.exceptions + ".normalization"}
    )
    names = {name for flow in FLOWS for name in output_topics(flow, stage)}
    run.workspace.create(sorted(names | {normalized.exceptions}), run.partitions)
    load = load_average()
    normalization = start_flow(
        "normalization", run.flows, normalized, run.log_dir, name="all-normalization"
    )
    downstream = {
        flow: start_flow(flow, run.flows, stage, run.log_dir, tail=True, name=f"all-{flow}")
        for flow in ("availability", "finance")
    }
    began = normalization.started
    try:
        normalization_usage = normalization.wait_ok(run.timeout_s)
        markers = run.workspace.append_end_markers([getattr(stage, name) for name in CANONICAL])
        watch = ExceptionWatch(run.workspace.brokers, stage.exceptions)
        try:
            ends = [
                watch.wait_for({m for m in markers if m[0] in input_topics(flow, stage)}, flow,
                               timeout_s=run.timeout_s)
                for flow in downstream
            ]  # fmt: skip
        finally:
            watch.close()
    finally:
        usages = {flow: child.stop() for flow, child in downstream.items()}
    canonical = run.workspace.end_offsets([getattr(stage, name) for name in CANONICAL])
    written = run.workspace.end_offsets(output_topics("normalization", normalized))
    row = row_from_usage(
        "all together (3 flows)", list(FLOWS), 3, run.day.events,
        sum(written.values()) - len(markers),
        [normalization_usage, *usages.values()],
        [run.startups[flow] for flow in FLOWS],
        wall_s=max(ends) - began,
    )  # fmt: skip
    row.load_average_before = load
    row.accounting = {
        "normalization_written": sum(written.values()) - len(markers),
        "canonical_per_topic": canonical,
        "end_markers_refused_by": list(downstream),
        "all_input_consumed": sum(written.values()) - len(markers) == run.day.events,
    }
    row.detail = {
        "per_flow": {
            "normalization": normalization_usage.as_json(),
            **{flow: usage.as_json() for flow, usage in usages.items()},
        },
        "timed_until": "availability and finance refused the end markers after normalization",
    }
    _require(row)
    return row


def _require(row: Row) -> None:
    if not row.accounting.get("all_input_consumed"):
        raise RuntimeError(f"{row.name}: the events do not add up: {row.accounting}")


def _forget_read_model(flows: FlowSettings) -> None:
    if not flows.redis_url:
        return
    client = redis.Redis.from_url(flows.redis_url)
    try:
        stale = list(client.scan_iter(match=flows.read_model_prefix + "*", count=1000))
        for start in range(0, len(stale), 1000):
            client.delete(*stale[start : start + 1000])
    finally:
        client.close()
