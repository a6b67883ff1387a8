"""`omni`: the project's command line.

omni stack up|down|status          the local Kafka broker and Redis server
omni topics create                 create every topic of the project
omni topics grow --partitions N    add partitions for peak season (docs/peak-season.md)
omni recovery spread --from --to   move a stopped flow's recovery partitions between processes
omni reference check [FILE]        check a reference data file
omni contracts write|check|release the Avro contracts and their evolution gate
omni generate --out DIR            generate a synthetic trading day
omni exceptions replay             send repaired exception records back to their topics
omni workbench [--port N]          the exception workbench, in the browser
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from omnichannel import localstack, logs, recovery_owner
from omnichannel.contracts.cli import add_contracts_parser, run_contracts
from omnichannel.contracts.common import Channel
from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.demo import run_demo
from omnichannel.exception_replay import replay
from omnichannel.kafka_admin import delete_topics, ensure_topics, grow_topics
from omnichannel.kafka_settings import kafka_brokers_from_env
from omnichannel.recovery import FLOWS, RecoverySettings, prepare, run_arguments, spread
from omnichannel.reference import DEFAULT_REFERENCE_FILE, load_reference
from omnichannel.replay_run import replay as replay_files
from omnichannel.scenario.cli import add_generate_parser, run_generate
from omnichannel.settings import SettingError, schema_registry_url_from_env
from omnichannel.topics import Topics
from omnichannel.watch import watch
from operators.normalize import Normalizer
from state.read_model_cli import add_availability_parser, run_availability

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="omni", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="the local Kafka broker and Redis server")
    stack.add_argument("action", choices=["up", "down", "status"])

    topics = commands.add_parser(
        "topics", help="create every topic of the project, or grow topics' partitions"
    )
    topics.add_argument("action", choices=["create", "grow"])
    topics.add_argument(
        "--partitions", type=int, default=3, help="partitions per topic (grow: the new count)"
    )
    topics.add_argument(
        "--only",
        choices=["inputs", "canonical", "outputs", "all"],
        default="all",
        help="grow: which of the project's topics (default all)",
    )
    topics.add_argument("--replication-factor", type=int, default=1)
    topics.add_argument(
        "--recreate", action="store_true", help="delete the topics first (loses their data)"
    )

    watch_ = commands.add_parser("watch", help="print a topic's records decoded, as JSON lines")
    watch_.add_argument("topic")
    watch_.add_argument("--from-beginning", action="store_true")

    reference = commands.add_parser("reference", help="check a reference data file")
    reference.add_argument("action", choices=["check"])
    reference.add_argument("file", nargs="?", type=Path, help="default: the bundled file")

    exceptions = commands.add_parser(
        "exceptions", help="replay exception records to their source topics"
    )
    exceptions.add_argument("action", choices=["replay"])
    exceptions.add_argument("--config", type=Path, help="the (fixed) reference data file")
    exceptions.add_argument(
        "--reason",
        action="append",
        choices=[reason.value for reason in ExceptionReason],
        help="replay only these reasons (repeatable)",
    )
    exceptions.add_argument(
        "--all", action="store_true", help="replay even records the reference data still refuses"
    )

    replay = commands.add_parser("replay", help="run the flows over JSON Lines files, no Kafka")
    replay.add_argument("--input-dir", type=Path, required=True, help="<topic>.jsonl files")
    replay.add_argument("--output-dir", type=Path, required=True, help="<topic>.avro files")
    replay.add_argument("--config", type=Path, help="reference data file (default: bundled)")
    replay.add_argument("--workers", type=int, default=1, help="Bytewax workers in this process")
    replay.add_argument(
        "--coalesce-ms", type=int, default=0, help="availability coalescing window (default 0)"
    )

    recovery = commands.add_parser(
        "recovery", help="move a stopped flow's recovery partitions between processes"
    )
    recovery.add_argument("action", choices=["spread"])
    recovery.add_argument(
        "--from", dest="sources", type=Path, nargs="+", required=True,
        help="every directory holding the flow's partitions now",
    )  # fmt: skip
    recovery.add_argument(
        "--to", dest="targets", type=Path, nargs="+", required=True,
        help="one directory per process, in process-id order: partition p goes to the "
        "(p mod processes)-th",
    )  # fmt: skip

    run = commands.add_parser("run", help="run a flow on Kafka, with recovery (on by default)")
    run.add_argument("flow", choices=FLOWS)
    run.add_argument("-w", "--workers-per-process", type=int, help="Bytewax workers")
    run.add_argument("-i", "--process-id", type=int, help="this process's id in a cluster")
    run.add_argument("-a", "--addresses", help="host:port of every process, ';'-separated")

    demo = commands.add_parser("demo", help="generate a trading day, replay it, report on it")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="where to write it all")
    demo.add_argument("--events", type=int, default=20_000, help="input events of the day")
    demo.add_argument("--seed", type=int, default=20261127)
    demo.add_argument("--config", type=Path, help="reference data file (default: bundled)")

    workbench = commands.add_parser(
        "workbench", help="the exception workbench and operations overview, in the browser"
    )
    workbench.add_argument(
        "--port", type=int, help="port to serve on (default WORKBENCH_PORT, else 8088)"
    )

    add_contracts_parser(commands)
    add_generate_parser(commands)
    add_availability_parser(commands)

    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (localstack.StackError, SettingError) as exc:
        print(f"omni {args.command}: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "stack":
        return _stack(args.action)
    if args.command == "recovery":
        placed = spread(args.sources, args.targets)
        for target in args.targets:
            held = sorted(p for p, path in placed.items() if path.parent == target)
            print(f"  {target}: partitions {', '.join(map(str, held))}")
        return 0
    if args.command == "topics" and args.action == "grow":
        return _grow_topics(args.partitions, args.only)
    if args.command == "topics":
        return _create_topics(args.partitions, args.replication_factor, args.recreate)
    if args.command == "watch":
        registry = schema_registry_url_from_env()
        brokers = kafka_brokers_from_env()
        for line in watch(brokers, args.topic, args.from_beginning, registry):
            print(line, flush=True)
        return 0
    if args.command == "reference":
        return _check_reference(args.file)
    if args.command == "exceptions":
        return _replay_exceptions(args.config, args.reason, args.all)
    if args.command == "contracts":
        return run_contracts(args)
    if args.command == "generate":
        return run_generate(args)
    if args.command == "run":
        return _run_flow(args)
    if args.command == "demo":
        run_demo(args.out, args.events, args.seed, args.config)
        return 0
    if args.command == "replay":
        return _replay(args.input_dir, args.output_dir, args.config, args.workers, args.coalesce_ms)
    if args.command == "availability":
        return run_availability(args)
    if args.command == "workbench":
        return _workbench(args.port)
    raise AssertionError(f"argparse let an unknown command through: {args.command}")


def _workbench(port: int | None) -> int:
    # Imported here: the web stack is only loaded by the command that serves it.
    from omnichannel.workbench.app import main as serve_workbench

    return serve_workbench(port)


def _stack(action: str) -> int:
    if action == "up":
        connections, states = localstack.up()
        for state in states:
            how = "started" if state.started else "already there"
            ready = f"ready in {state.seconds_to_ready:.2f}s"
            print(f"{state.name:6} {how:14} {state.address}  {ready}")
        print(f"export KAFKA_BOOTSTRAP_SERVERS={connections.kafka_bootstrap_servers}")
        print(f"export REDIS_URL={connections.redis_url}")
        return 0
    if action == "down":
        stopped = localstack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    layout = localstack.StackLayout.from_env()
    for service, address in (("kafka", layout.kafka_bootstrap), ("redis", layout.redis_url)):
        pid = localstack.running(layout, service)
        print(f"{service:6} {'running, pid ' + str(pid) if pid else 'not running':20} {address}")
    return 0


def _project_topics(which: str = "all") -> list[str]:
    topics = Topics.from_env()
    groups = {
        "inputs": topics.inputs,
        "canonical": [
            topics.canonical_orders,
            topics.canonical_movements,
            topics.canonical_settlements,
        ],
        "outputs": [
            topics.exceptions,
            topics.exceptions_audit,
            topics.anomalies,
            topics.postings,
            topics.reconciliation,
            *(topics.availability(channel) for channel in Channel),
        ],
    }
    return [name for group, names in groups.items() if which in (group, "all") for name in names]


def _grow_topics(partitions: int, which: str) -> int:
    try:
        before = grow_topics(kafka_brokers_from_env(), _project_topics(which), partitions)
    except ValueError as exc:
        print(f"omni topics grow: {exc}", file=sys.stderr)
        return 1
    for name, count in before.items():
        change = f"{count} -> {partitions}" if count < partitions else f"{count} (unchanged)"
        print(f"  {name}: {change}")
    print("restart the flows (rolling) so that they read the new partitions: docs/peak-season.md")
    return 0


def _create_topics(partitions: int, replication_factor: int, recreate: bool) -> int:
    names = _project_topics()
    brokers = kafka_brokers_from_env()
    if recreate:
        print(f"deleted {len(delete_topics(brokers, names))} topics")
    created = ensure_topics(brokers, names, partitions, replication_factor)
    print(f"created {len(created)} topics, {len(names) - len(created)} existed already")
    for name in created:
        print(f"  {name}")
    return 0


def _check_reference(file: Path | None) -> int:
    data = load_reference(file)
    print(
        f"{file or DEFAULT_REFERENCE_FILE}: ok: {len(data.all_skus)} SKUs, "
        f"{len(data.locations)} locations, {len(data.tax_codes)} tax codes, "
        f"{len(data.currencies)} currencies"
    )
    return 0


def _run_flow(args: argparse.Namespace) -> int:
    # JSON log lines unless told otherwise: the flow's process inherits the setting.
    os.environ.setdefault("LOG_FORMAT", "json")
    logs.configure_from_env(args.flow)
    settings = RecoverySettings.from_env(args.flow)
    processes = len(args.addresses.split(";")) if args.addresses else 1
    partitions = prepare(settings, args.process_id or 0, processes)
    if settings.directory is not None:
        # One live process per store: the flow renews the lease (omnichannel.recovery_owner).
        os.environ[recovery_owner.OWNER_ENV] = recovery_owner.acquire(
            settings.directory, recovery_owner.OwnerSettings.from_env()
        )
        os.environ[recovery_owner.LEASE_DIR_ENV] = str(settings.directory)
    where = f"{settings.directory} ({partitions} partitions)" if partitions else "off"
    logger.info("omni run %s: recovery %s", args.flow, where)
    argv = run_arguments(args.flow, settings)
    for flag, value in (
        ("-w", args.workers_per_process),
        ("-i", args.process_id),
        ("-a", args.addresses),
    ):
        if value is not None:
            argv += [flag, str(value)]
    # The flow takes this process's place, so that signals reach it directly.
    os.execv(sys.executable, [sys.executable, *argv])


def _replay(
    input_dir: Path, output_dir: Path, config: Path | None, workers: int, coalesce_ms: int
) -> int:
    reference = load_reference(config)
    seconds = replay_files(
        input_dir, output_dir, reference, workers, timedelta(milliseconds=coalesce_ms)
    )
    written = sorted(output_dir.glob("*.avro"))
    print(f"replayed {input_dir} in {seconds:.2f}s; wrote {len(written)} files to {output_dir}")
    return 0


def _replay_exceptions(config: Path | None, reasons: list[str] | None, everything: bool) -> int:
    topics = Topics.from_env()
    normalizer = None if everything else Normalizer.for_topics(load_reference(config), topics)
    report = replay(
        kafka_brokers_from_env(),
        topics.exceptions,
        normalizer,
        frozenset(ExceptionReason(r) for r in reasons) if reasons else None,
        schema_registry_url_from_env(),
    )
    print(f"read {report.read} exception records")
    for reason, count in sorted(report.replayed.items()):
        print(f"  replayed {count:6} {reason}")
    for reason, count in sorted(report.kept.items()):
        print(f"  kept     {count:6} {reason} (still refused, or not chosen)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
