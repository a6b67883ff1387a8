"""`make chaos`: the full chaos run on the local stack (or the servers the environment names).

    python -m tests.chaos [--events 100000] [--kills 10] [--seed 1] [--out out/chaos]

Prints every kill and the verdict, writes `report.json` and the flows' logs under `--out`, and
exits 1 unless nothing was lost, doubled or wrong.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from omnichannel import localstack
from tests.chaos.harness import ChaosReport, ChaosSettings, run_chaos, write_report


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--skus", type=int, default=2_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/chaos"))
    args = parser.parse_args()
    console = Console()
    connections, _ = localstack.up()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    settings = ChaosSettings(events=args.events, skus=args.skus, kills=args.kills, seed=args.seed)
    report = run_chaos(
        settings,
        connections.kafka_bootstrap_servers,
        connections.redis_url,
        args.out,
        say=console.print,
    )
    write_report(report, args.out / "report.json")
    console.print(summary(report))
    console.print(f"report: {args.out / 'report.json'}; logs: {args.out / 'logs'}")
    return 0 if report.ok else 1


def summary(report: ChaosReport) -> Table:
    """The figures that matter, one per row, each with what it must be."""
    table = Table(title=f"chaos run: {'PASS' if report.ok else 'FAIL'} in {report.seconds:.0f}s")
    for column in ("figure", "value", "must be"):
        table.add_column(column)
    postings, availability, books = report.postings, report.availability, report.accounting
    assert postings is not None
    assert availability is not None
    assert books is not None
    rows = [
        ("events produced", f"{report.events:,}", ""),
        ("kills survived (SIGKILL)", str(len(report.kills)), f">= {report.settings.kills}"),
        ("postings expected (uninterrupted run)", f"{postings.expected:,}", ""),
        ("postings present", f"{postings.present:,}", "= expected"),
        ("postings lost", str(postings.lost), "0"),
        ("postings extra", str(postings.extra), "0"),
        ("postings doubled (same idempotency key)", str(postings.doubled), "0"),
        ("unbalanced entries", str(postings.unbalanced), "0"),
        ("availability keys compared with the oracle", f"{availability.keys:,}", ""),
        ("availability mismatches", str(availability.mismatches), "0"),
        ("read model behind its topics", str(availability.read_model_mismatches), "0"),
        ("inputs", f"{books.inputs:,}", "= processed + duplicates + exceptions"),
        ("processed", f"{books.processed:,}", ""),
        ("duplicates", f"{books.duplicates:,}", ""),
        ("exceptions (refused by normalization)", f"{books.exceptions:,}", ""),
        (
            "inputs unaccounted / both event and exception",
            f"{books.unaccounted} / {books.both}",
            "0 / 0",
        ),
        ("canonical re-deliveries absorbed downstream", f"{books.redelivered:,}", ""),
        ("events refused later (finance's exception queue)", f"{books.refused_downstream:,}", ""),
    ]
    for row in rows:
        table.add_row(*row)
    for example in availability.examples:
        table.add_row("mismatch", example, "")
    for doubled in postings.doubled_at[:10]:
        table.add_row("doubled", doubled, "")
    return table


if __name__ == "__main__":
    sys.exit(main())
