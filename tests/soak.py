"""`make soak`: the chaos run and the fault tests in a loop, on the local stack; a table of runs.

    python -m tests.soak [--runs N] [--events 20000] [--kills 6] [--out out/soak]

Each run is a chaos run with its own seed (SIGKILLs through a day: postings lost, doubled,
availability against the reference), then the fault tests (`tests/integration/test_faults.py`:
the broker stopped while input keeps coming; `test_zombie.py`: a paused finance process woken
after its successor took over). `SOAK_RUNS` (default 20) sets how many runs; `SOAK_FAULTS`
picks the fault tests (a pytest `-k` expression, default all of them); `SOAK_OUTAGES` the
broker outages, in seconds (default `10,60`; `10,60,300` adds the 5-minute one). Prints a row
per run as it ends, with the machine's load, and exits 1 if any run failed. Reports under
`--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from omnichannel import localstack
from omnichannel.localstack import PROJECT_ROOT
from tests.chaos.harness import ChaosSettings, run_chaos, write_report

FAULT_TESTS = ["tests/integration/test_faults.py", "tests/integration/test_zombie.py"]


@dataclass(frozen=True)
class SoakRun:
    run: int
    seed: int
    kills: int
    lost: int
    doubled: int
    mismatches: int
    accounted: bool
    faults_passed: int
    faults_failed: int
    load: str
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.doubled == 0
            and self.mismatches == 0
            and self.accounted
            and self.faults_failed == 0
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("SOAK_RUNS", "20")))
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--skus", type=int, default=300)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=101)
    parser.add_argument("--out", type=Path, default=Path("out/soak"))
    args = parser.parse_args()
    console = Console()
    connections, _ = localstack.up()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    runs: list[SoakRun] = []
    for run in range(1, args.runs + 1):
        began = time.monotonic()
        seed = args.first_seed + run - 1
        workdir = args.out / f"run-{run:02d}"
        workdir.mkdir()
        settings = ChaosSettings(events=args.events, skus=args.skus, kills=args.kills, seed=seed)
        report = run_chaos(
            settings,
            connections.kafka_bootstrap_servers,
            connections.redis_url,
            workdir / "chaos",
            say=lambda line: None,
        )
        write_report(report, workdir / "chaos" / "report.json")
        passed, failed = _fault_tests(workdir)
        postings, availability, books = report.postings, report.availability, report.accounting
        runs.append(
            SoakRun(
                run=run,
                seed=seed,
                kills=len(report.kills),
                lost=postings.lost if postings else -1,
                doubled=postings.doubled if postings else -1,
                mismatches=(
                    availability.mismatches + availability.read_model_mismatches
                    if availability
                    else -1
                ),
                accounted=bool(books and books.ok),
                faults_passed=passed,
                faults_failed=failed,
                load=Path("/proc/loadavg").read_text().split()[0],
                seconds=time.monotonic() - began,
            )
        )
        console.print(_row_text(runs[-1]))
    (args.out / "soak.json").write_text(
        json.dumps([{**r.__dict__, "ok": r.ok} for r in runs], indent=2) + "\n"
    )
    console.print(_table(runs))
    return 0 if all(r.ok for r in runs) else 1


def _fault_tests(workdir: Path) -> tuple[int, int]:
    """Run the fault tests once; how many passed and failed (from pytest's JUnit report)."""
    junit = workdir / "faults.xml"
    selection = os.environ.get("SOAK_FAULTS", "")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FAULT_TESTS]
    command += [f"--junitxml={junit}", f"--basetemp={workdir / 'faults'}"]
    if selection:
        command += ["-k", selection]
    env = {**os.environ, "OUTAGE_SECONDS": os.environ.get("SOAK_OUTAGES", "10,60")}
    with (workdir / "faults.log").open("wb") as log:
        subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    if not junit.exists():
        return 0, 1
    text = junit.read_text()
    tests = int(text.split('tests="', 1)[1].split('"', 1)[0])
    failed = sum(
        int(text.split(f'{kind}="', 1)[1].split('"', 1)[0]) for kind in ("failures", "errors")
    )
    return tests - failed, failed


def _row_text(run: SoakRun) -> str:
    verdict = "ok" if run.ok else "FAILED"
    return (
        f"run {run.run}: seed {run.seed}, {run.kills} kills, lost {run.lost}, doubled "
        f"{run.doubled}, mismatches {run.mismatches}, fault tests {run.faults_passed} passed "
        f"{run.faults_failed} failed, load {run.load}, {run.seconds:.0f}s: {verdict}"
    )


def _table(runs: list[SoakRun]) -> Table:
    failures = sum(not r.ok for r in runs)
    table = Table(title=f"soak: {len(runs)} runs, {failures} failed")
    columns = ("run", "seed", "kills", "lost", "doubled", "mismatches", "accounted",
               "fault tests ok/failed", "load (1 min)", "seconds", "verdict")  # fmt: skip
    for column in columns:
        table.add_column(column)
    for r in runs:
        table.add_row(
            str(r.run), str(r.seed), str(r.kills), str(r.lost), str(r.doubled),
            str(r.mismatches), "yes" if r.accounted else "NO",
            f"{r.faults_passed}/{r.faults_failed}", r.load, f"{r.seconds:.0f}",
            "ok" if r.ok else "FAILED",
        )  # fmt: skip
    return table


if __name__ == "__main__":
    sys.exit(main())
