"""`omni`: the project's command line.

`omni stack up|down|status` runs the local Kafka broker and Redis server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from omnichannel import localstack
from omnichannel.settings import SettingError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omni", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="the local Kafka broker and Redis server")
    stack.add_argument("action", choices=["up", "down", "status"])

    args = parser.parse_args(argv)
    try:
        if args.command == "stack":
            return _stack(args.action)
    except (localstack.StackError, SettingError) as exc:
        print(f"omni {args.command}: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


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


if __name__ == "__main__":
    sys.exit(main())
