"""The demo: a generated Black Friday replayed through the flows, summarised for a retailer.

No Kafka and no Redis: the scenario is written as the channels' JSON Lines files, replayed
with the same dataflow steps as production, and the outputs (Avro files) summarised on the
console and in an HTML report with availability over the day for the busiest SKUs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from omnichannel.reference import load_reference
from omnichannel.replay_run import replay
from omnichannel.report import print_summary, summarize, write_html
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import write_jsonl


def run_demo(folder: Path, events: int, seed: int, config: Path | None = None) -> Path:
    """Generate, replay and report; return the path of the HTML report."""
    console = Console()
    reference = load_reference(config)
    input_dir, output_dir = folder / "input", folder / "output"
    shutil.rmtree(input_dir, ignore_errors=True)
    with console.status("Generating the trading day..."):
        write_jsonl(generate(ScenarioSettings(seed=seed, events=events), reference), input_dir)
    with console.status("Replaying it through normalization and availability..."):
        seconds = replay(input_dir, output_dir, reference)
    summary = summarize(input_dir, output_dir, seconds)
    report = folder / "report.html"
    write_html(summary, report)
    print_summary(summary, console, report)
    return report
