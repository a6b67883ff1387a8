"""The benchmark command line: `python -m omnichannel.bench MODE` (or `omni bench MODE`).

`add_bench_parser` adds the modes to a command line's subcommands; `run_bench` runs one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from omnichannel.bench.flows import FLOWS
from omnichannel.bench.latency import LatencySettings, run_latency
from omnichannel.bench.profiles import run_profile
from omnichannel.bench.results import wide_console
from omnichannel.bench.scaling import ScalingSettings, run_scaling
from omnichannel.bench.scenario_input import DaySize
from omnichannel.bench.stages import main as stages_main
from omnichannel.bench.throughput import DEFAULT_OUT, ThroughputSettings, run_throughput


def add_bench_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `bench` with its modes to a command line's subcommands; returns its parser."""
    parser = subparsers.add_parser(
        "bench", help="benchmarks: throughput, latency, scaling", description=__doc__
    )
    add_modes(parser)
    return parser


def add_modes(parser: argparse.ArgumentParser) -> None:
    """The modes and their options, on `parser`."""
    modes = parser.add_subparsers(dest="bench_mode", required=True)
    throughput = modes.add_parser(
        "throughput", help="each flow against the raw Kafka ceiling (make bench)"
    )
    _day_options(throughput, events=1_000_000, sku_locations=100_000)
    throughput.add_argument(
        "--state-sample",
        type=float,
        default=0.05,
        help="share of keys whose state size is measured (default 0.05)",
    )

    latency = modes.add_parser(
        "latency", help="input to output latency per output topic under a fixed load"
    )
    latency.add_argument(
        "--rate", type=int, default=5_000, help="events per second offered (default: %(default)s)"
    )
    latency.add_argument(
        "--seconds", type=float, default=60.0, help="how long the load lasts (default: %(default)s)"
    )
    latency.add_argument(
        "--coalesce-ms",
        type=int,
        nargs="+",
        default=[0, 250],
        help="AVAILABILITY_COALESCE_MS values, one run each (default: 0 250)",
    )
    latency.add_argument("--sku-locations", type=int, default=100_000)
    latency.add_argument("--seed", type=int, default=0)
    latency.add_argument("--partitions", type=int, default=4)
    latency.add_argument("--no-redis", action="store_true")
    latency.add_argument("--out", type=Path, default=DEFAULT_OUT)
    latency.add_argument("--gc-thresholds", type=_thresholds, metavar="G0,G1,G2")
    latency.add_argument(
        "--flows", nargs="+", choices=FLOWS, default=list(FLOWS),
        help="the flows that run (default: all three; normalization feeds the others)",
    )  # fmt: skip

    scaling = modes.add_parser(
        "scaling", help="1 worker, 2 workers in one process, 2 processes (make bench-scaling)"
    )
    _day_options(scaling, events=200_000, sku_locations=20_000)
    scaling.add_argument("--flows", nargs="+", choices=FLOWS, default=list(FLOWS),
                         help="the flows to scale (default: all three)")  # fmt: skip

    stages = modes.add_parser(
        "stages", help="per-record cost of each hot-path step, in this process, no Kafka"
    )
    stages.add_argument("--events", type=int, default=50_000)
    stages.add_argument("--skus", type=int, default=1_000)
    stages.add_argument("--seed", type=int, default=0)
    stages.add_argument("--repeat", type=int, default=5)
    stages.add_argument("--out", type=Path, default=DEFAULT_OUT / "stages.json")

    profile = modes.add_parser("profile", help="py-spy profile of one flow on the broker")
    profile.add_argument("flow", choices=FLOWS)
    profile.add_argument("--label", default="now", help="names the files (default: now)")
    _day_options(profile, events=200_000, sku_locations=20_000)


def _day_options(parser: argparse.ArgumentParser, events: int, sku_locations: int) -> None:
    parser.add_argument(
        "--events",
        type=int,
        default=events,
        help="events in the generated day (default: %(default)s)",
    )
    parser.add_argument(
        "--sku-locations",
        type=int,
        default=sku_locations,
        help="SKUs x trading locations (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--partitions", type=int, default=4, help="partitions of every topic (default: %(default)s)"
    )
    parser.add_argument(
        "--coalesce-ms",
        type=int,
        default=250,
        help="AVAILABILITY_COALESCE_MS of the flows (default: %(default)s)",
    )
    parser.add_argument(
        "--no-redis", action="store_true", help="run availability without the Redis read model"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where results go (default: %(default)s)"
    )
    parser.add_argument(
        "--tree", type=Path, help="run the flows from this other checkout (an earlier version)"
    )
    parser.add_argument(
        "--gc-thresholds",
        type=_thresholds,
        metavar="G0,G1,G2",
        help="gc.set_threshold for the flow processes (default: Python's)",
    )


def _thresholds(text: str) -> tuple[int, int, int]:
    try:
        first, second, third = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected three integers G0,G1,G2, got {text!r}"
        ) from None
    return first, second, third


def run_bench(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run the mode `args` asks for; return the process exit code."""
    console = console or wide_console()
    if args.bench_mode == "throughput":
        run_throughput(
            ThroughputSettings(
                size=DaySize(args.events, args.sku_locations, args.seed),
                partitions=args.partitions,
                redis=not args.no_redis,
                coalesce_ms=args.coalesce_ms,
                state_sample=args.state_sample,
                out_dir=args.out,
                tree=args.tree,
                gc_thresholds=args.gc_thresholds,
            ),
            console,
        )
        return 0
    if args.bench_mode == "latency":
        run_latency(
            LatencySettings(
                rate=args.rate,
                seconds=args.seconds,
                coalesce_ms=tuple(args.coalesce_ms),
                sku_locations=args.sku_locations,
                seed=args.seed,
                partitions=args.partitions,
                redis=not args.no_redis,
                out_dir=args.out,
                gc_thresholds=args.gc_thresholds,
                flows=tuple(dict.fromkeys(["normalization", *args.flows])),
            ),
            console,
        )
        return 0
    if args.bench_mode == "scaling":
        run_scaling(
            ScalingSettings(
                size=DaySize(args.events, args.sku_locations, args.seed),
                partitions=args.partitions,
                flows=tuple(args.flows),
                redis=not args.no_redis,
                coalesce_ms=args.coalesce_ms,
                out_dir=args.out,
                gc_thresholds=args.gc_thresholds,
            ),
            console,
        )
        return 0
    if args.bench_mode == "stages":
        return stages_main(
            ["--events", str(args.events), "--skus", str(args.skus), "--seed", str(args.seed),
             "--repeat", str(args.repeat), "--out", str(args.out)]
        )  # fmt: skip
    if args.bench_mode == "profile":
        run_profile(
            args.flow, DaySize(args.events, args.sku_locations, args.seed), args.label, args.out,
            args.partitions, console, args.gc_thresholds,
        )  # fmt: skip
        return 0
    raise ValueError(f"unknown bench mode {args.bench_mode!r}")
