"""`omni availability SKU --channel web [--location S-014]`: ask the read model what may sell.

Prints the number a channel may sell and the inputs behind it, as the Redis read model holds
them; the server is `REDIS_URL`. Exits 1 when nothing is stored for the key.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.settings import SettingError, env_str
from state.read_model import (
    DEFAULT_PREFIX,
    UNREACHABLE,
    availability_key,
    connect,
    read_availability,
)

# A person waits more patiently than a flow.
CLI_TIMEOUT_S = 2.0
INPUTS = ("on_hand", "reserved", "safety_stock", "buffer", "allocation_share")


def add_availability_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `availability` command to the `omni` command line."""
    availability = subparsers.add_parser(
        "availability",
        help="what a channel may sell of a SKU now, from the Redis read model",
        description=__doc__,
    )
    availability.add_argument("sku", help="the retailer's SKU, e.g. SKU-1001")
    availability.add_argument(
        "--channel", required=True, choices=[channel.value for channel in Channel]
    )
    availability.add_argument(
        "--location", help="the location, for channels that sell per location (pos)"
    )
    availability.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help="key prefix (default: %(default)s)"
    )


def run_availability(args: argparse.Namespace) -> int:
    """Print the stored availability for the key in `args`; return the process exit code."""
    try:
        client = connect(env_str("REDIS_URL"), timeout_s=CLI_TIMEOUT_S)
    except SettingError as exc:
        print(f"omni availability: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"omni availability: REDIS_URL is malformed: {exc}", file=sys.stderr)
        return 1
    key = availability_key(args.prefix, args.channel, args.sku, args.location)
    try:
        stored = read_availability(client, args.prefix, args.channel, args.sku, args.location)
    except UNREACHABLE as exc:
        print(f"omni availability: Redis at REDIS_URL unreachable: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if stored is None:
        print(f"omni availability: nothing stored at {key}", file=sys.stderr)
        return 1
    print(f"{key}: {stored['available']} available to sell")
    for name in ("version", "event_time", *INPUTS, "published_at"):
        print(f"  {name:<17}{stored.get(name, '-')}")
    return 0
