"""Starting the flows for a benchmark: their settings, their topics, their start-up cost."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from omnichannel import collector
from omnichannel.bench.processes import Child, Usage, flow_argv
from omnichannel.bench.workspace import Workspace, all_topics, topic_env
from omnichannel.topics import Topics

FLOWS = ("normalization", "availability", "finance")
TAIL_SETTING = {
    "normalization": "NORMALIZE_TAIL",
    "availability": "AVAILABILITY_TAIL",
    "finance": "FINANCE_TAIL",
}
# The topics each flow reads, by field of `Topics`; it writes to the others.
INPUT_FIELDS = {
    "normalization": ("web_orders", "pos_orders", "marketplace_orders", "settlements", "movements"),
    "availability": ("canonical_orders", "canonical_movements"),
    "finance": ("canonical_orders", "canonical_settlements"),
}
OUTPUT_FIELDS = {
    "normalization": (
        "canonical_orders", "canonical_movements", "canonical_settlements", "exceptions",
    ),
    "availability": ("anomalies", "exceptions"),
    "finance": ("postings", "reconciliation", "anomalies", "exceptions"),
}  # fmt: skip
STARTUP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class FlowSettings:
    """What every flow of a benchmark run is given besides its topics."""

    brokers: list[str]
    redis_url: str | None
    read_model_prefix: str
    coalesce_ms: int = 250
    # Another checkout to run the flows from (to compare with an earlier version); None: this one.
    tree: Path | None = None
    # The collector's thresholds for the flow processes (GC_THRESHOLDS); None: the flows' own.
    gc_thresholds: tuple[int, int, int] | None = None

    def env(self, flow: str, topics: Topics, tail: bool) -> dict[str, str]:
        """The environment of one flow process reading and writing `topics`."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": ",".join(self.brokers),
            "REDIS_URL": self.redis_url or "",
            "READ_MODEL_PREFIX": self.read_model_prefix,
            "AVAILABILITY_COALESCE_MS": str(self.coalesce_ms),
            TAIL_SETTING[flow]: "true" if tail else "false",
            # Several flows run at once: no metrics endpoint (the counting still runs).
            "METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            **self._python_path(),
            **self._collector(),
            **topic_env(topics),
        }

    def _python_path(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.tree)} if self.tree else {}

    def _collector(self) -> dict[str, str]:
        if self.gc_thresholds is None:
            return {}
        return {collector.SETTING: ",".join(str(n) for n in self.gc_thresholds)}


def wired(flow: str, inputs: Topics, outputs: Topics) -> Topics:
    """The topics of `outputs`, but reading the flow's inputs from `inputs`."""
    chosen = outputs.model_dump()
    chosen.update({name: getattr(inputs, name) for name in INPUT_FIELDS[flow]})
    return Topics(**chosen)


def output_topics(flow: str, topics: Topics) -> list[str]:
    """The topics a flow writes to (the availability topics for the availability flow)."""
    names = [getattr(topics, name) for name in OUTPUT_FIELDS[flow]]
    if flow == "availability":
        names += [
            name for name in all_topics(topics) if name.startswith(topics.availability_prefix)
        ]
    return names


def input_topics(flow: str, topics: Topics) -> list[str]:
    return [getattr(topics, name) for name in INPUT_FIELDS[flow]]


def start_flow(
    flow: str,
    settings: FlowSettings,
    topics: Topics,
    log_dir: Path,
    *,
    tail: bool = False,
    name: str | None = None,
    workers: int = 1,
    process: tuple[int, str] | None = None,
    profile_to: Path | None = None,
) -> Child:
    return Child(
        name or flow,
        flow_argv(flow, workers, process),
        settings.env(flow, topics, tail),
        log_dir,
        profile_to=profile_to,
        cwd=settings.tree,
    )


def startup_costs(
    workspace: Workspace, settings: FlowSettings, flows: Iterable[str], partitions: int,
    log_dir: Path,
) -> dict[str, Usage]:  # fmt: skip
    """Each flow's wall and CPU time on empty topics: start-up and shutdown, no events."""
    empty = workspace.stage("empty")
    workspace.create(all_topics(empty), partitions)
    costs = {}
    for flow in flows:
        child = start_flow(flow, settings, empty, log_dir, name=f"{flow}-empty")
        costs[flow] = child.wait_ok(STARTUP_TIMEOUT_S)
    return costs
