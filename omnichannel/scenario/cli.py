"""`omni generate`: write a synthetic trading day to files, to Kafka, or both.

`add_generate_parser` adds the subcommand to the project's command line; `run_generate` runs it
and prints a short summary: records per topic, faults injected, generation speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from confluent_kafka import KafkaException
from pydantic import ValidationError

from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.records import Scenario
from omnichannel.scenario.writers import DeliveryError, produce_to_kafka, write_jsonl
from omnichannel.settings import SettingError

DEFAULTS = ScenarioSettings()


def add_generate_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `generate` to a command line's subcommands; returns its parser."""
    parser = subparsers.add_parser(
        "generate",
        help="generate a synthetic trading day (files and/or Kafka)",
        description=__doc__,
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="write <topic>.jsonl files here")
    parser.add_argument("--kafka", metavar="BOOTSTRAP", help="produce to this Kafka cluster")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default: %(default)s")
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULTS.events,
        help="approximate number of input records (default: %(default)s)",
    )
    parser.add_argument(
        "--skus", type=int, default=DEFAULTS.skus, help="SKUs that sell (default: %(default)s)"
    )
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        default=DEFAULTS.day,
        help="trading day, YYYY-MM-DD (default: %(default)s)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="reference data file (default: the one shipped with the project)",
    )
    parser.add_argument("--clean", action="store_true", help="inject no faults")
    return parser


def run_generate(args: argparse.Namespace) -> int:
    """Generate the day the arguments describe and deliver it; 0 on success."""
    if args.out is None and args.kafka is None:
        print("omni generate: say where to: --out DIR and/or --kafka BOOTSTRAP", file=sys.stderr)
        return 2
    values = {"seed": args.seed, "events": args.events, "skus": args.skus, "day": args.day}
    try:
        settings = ScenarioSettings.clean(**values) if args.clean else ScenarioSettings(**values)
        reference = load_reference(args.config)
        started = time.perf_counter()
        scenario = generate(settings, reference)
        seconds = time.perf_counter() - started
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"omni generate: --{where}: {first['msg']}", file=sys.stderr)
        return 2
    except SettingError as exc:
        print(f"omni generate: {exc}", file=sys.stderr)
        return 1
    _print_summary(scenario, seconds)
    if args.out is not None:
        written = write_jsonl(scenario, args.out)
        print(f"wrote {len(written)} files to {args.out}")
    if args.kafka is not None:
        try:
            produced = produce_to_kafka(scenario, args.kafka)
        except (DeliveryError, KafkaException) as exc:
            print(f"omni generate: Kafka at {args.kafka}: {exc}", file=sys.stderr)
            return 1
        print(f"produced {sum(produced.values())} records to Kafka at {args.kafka}")
    return 0


def _print_summary(scenario: Scenario, seconds: float) -> None:
    manifest = scenario.manifest
    total = scenario.total_events
    speed = total / seconds if seconds > 0 else float("inf")
    print(
        f"generated {total} events for {scenario.settings.day} (seed {scenario.settings.seed}) "
        f"in {seconds:.2f}s: {speed:,.0f} events/s"
    )
    for topic, count in manifest["counts"].items():
        print(f"  {topic:26} {count:>9}")
    faults = {name: n for name, n in manifest["fault_counts"].items() if n}
    listed = ", ".join(f"{name} {n}" for name, n in faults.items()) or "none"
    print(f"faults injected: {sum(faults.values())} ({listed})")
    expected = ", ".join(f"{topic} {n}" for topic, n in manifest["expected_counts"].items())
    print(f"expected after normalization: {expected}")
