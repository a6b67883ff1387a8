"""Benchmark results: one row per measurement, written as JSON, printed as a table, plotted.

Rates are net of start-up: each command is also run once on empty topics in the same run, and
that run's wall and CPU time are taken off (Python imports, Bytewax and Kafka start-up), so
that a small scenario and a large one measure the same thing. Both figures are kept. When the
input is so small that start-up is most of a run (less than `MIN_NET_SHARE` of it is left),
the whole run is counted instead, and the row says so (`rate_basis`).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from omnichannel.bench.processes import Usage

MIB = 1024 * 1024
MIN_NET_SHARE = 0.25


@dataclass
class Row:
    """One measurement: a command (or several at once) over a known number of input events."""

    name: str
    flows: list[str]
    workers: int
    events: int
    events_out: int
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    startup_wall_s: float = 0.0
    startup_cpu_s: float = 0.0
    state_bytes_per_key: float | None = None
    ratio_to_ceiling: float | None = None
    load_average_before: float | None = None
    accounting: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def net_of_startup(self) -> bool:
        """Whether start-up is taken off: only when enough of the run is left after it."""
        return self.wall_s - self.startup_wall_s >= MIN_NET_SHARE * self.wall_s

    @property
    def run_s(self) -> float:
        """Wall time spent on the events: the run's, less the same command's on no input."""
        return self.wall_s - self.startup_wall_s if self.net_of_startup else self.wall_s

    @property
    def events_per_s(self) -> float:
        return self.events / self.run_s

    @property
    def events_per_s_per_worker(self) -> float:
        return self.events_per_s / self.workers

    @property
    def cpu_s_per_million(self) -> float:
        net = self.cpu_s - self.startup_cpu_s
        spent = net if self.net_of_startup and net >= MIN_NET_SHARE * self.cpu_s else self.cpu_s
        return spent / self.events * 1e6 if self.events else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rate_basis": "net of start-up" if self.net_of_startup else "whole run",
            "run_s": round(self.run_s, 3),
            "events_per_s": round(self.events_per_s, 1),
            "events_per_s_per_worker": round(self.events_per_s_per_worker, 1),
            "cpu_s_per_million_events": round(self.cpu_s_per_million, 2),
            "peak_rss_mib": round(self.peak_rss_bytes / MIB, 1),
        }


def row_from_usage(
    name: str,
    flows: list[str],
    workers: int,
    events: int,
    events_out: int,
    usages: list[Usage],
    startups: list[Usage],
    wall_s: float | None = None,
) -> Row:
    """A row from the usage of the process(es) that ran together, and of their empty runs."""
    return Row(
        name=name,
        flows=flows,
        workers=workers,
        events=events,
        events_out=events_out,
        wall_s=wall_s if wall_s is not None else max(u.wall_s for u in usages),
        cpu_s=sum(u.cpu_s for u in usages),
        peak_rss_bytes=sum(u.max_rss_bytes for u in usages),
        startup_wall_s=max((u.wall_s for u in startups), default=0.0),
        startup_cpu_s=sum(u.cpu_s for u in startups),
    )


def document_head(
    mode: str, run_id: str, started: datetime, machine: dict[str, Any]
) -> dict[str, Any]:
    """What every mode's JSON starts with: the mode, the run, its times, command and machine."""
    return {
        "mode": mode,
        "run_id": run_id,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "command": shlex.join(
            [Path(sys.executable).name, "-m", "omnichannel.bench", *sys.argv[1:]]
        ),
        "machine": machine,
    }


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def print_rows(title: str, rows: list[Row], console: Console | None = None) -> None:
    """The rows as a table: rates per worker, CPU per million events, memory, state, ratio."""
    table = Table(title=title, title_justify="left")
    for header in (
        "measurement",
        "workers",
        "events",
        "run s",
        "ev/s/worker",
        "CPU s/M ev",
        "RSS MiB",
        "state B/key",
        "x ceiling",
        "load",
    ):
        table.add_column(header, justify="left" if header == "measurement" else "right",
                         no_wrap=True)  # fmt: skip
    for row in rows:
        table.add_row(
            row.name,
            str(row.workers),
            f"{row.events:,}",
            f"{row.run_s:.1f}",
            f"{row.events_per_s_per_worker:,.0f}",
            f"{row.cpu_s_per_million:,.1f}",
            f"{row.peak_rss_bytes / MIB:,.0f}",
            "-" if row.state_bytes_per_key is None else f"{row.state_bytes_per_key:,.0f}",
            "-" if row.ratio_to_ceiling is None else f"{row.ratio_to_ceiling:.3f}",
            "-" if row.load_average_before is None else f"{row.load_average_before:.1f}",
        )
    (console or wide_console()).print(table)


def wide_console() -> Console:
    """A console that does not squeeze the tables when the output is a file or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=160)
