"""`omni contracts write|check|release NAME`: the Avro schema files and their evolution gate.

`write` regenerates `avro/<Name>.avsc` from the models; `check` is the CI gate (files equal
the models, every current schema reads every released version); `release NAME` freezes a
contract's current schema as its next version under `avro/released/NAME/`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from omnichannel.contracts import schema_files


def add_contracts_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `contracts` command, with its actions, to the `omni` command line."""
    contracts = subparsers.add_parser(
        "contracts",
        help="the Avro schema files of the contracts, and their evolution gate",
        description=__doc__,
    )
    contracts.add_argument(
        "--folder",
        type=Path,
        default=schema_files.DEFAULT_FOLDER,
        help="the schema folder (default: %(default)s)",
    )
    actions = contracts.add_subparsers(dest="contracts_action", required=True)
    actions.add_parser("write", help="regenerate avro/<Name>.avsc from the models")
    actions.add_parser("check", help="fail when files drift from the models or evolve unsafely")
    release = actions.add_parser("release", help="freeze a contract's schema as its next version")
    release.add_argument("name", help="the contract's Avro record name, e.g. OrderEvent")


def run_contracts(args: argparse.Namespace) -> int:
    """Run the `contracts` action in `args`; return the process exit code."""
    folder: Path = args.folder
    try:
        if args.contracts_action == "write":
            for path in schema_files.write_schemas(folder):
                print(f"wrote {path}")
            return 0
        if args.contracts_action == "check":
            problems = schema_files.check_evolution(folder)
            for problem in problems:
                print(problem, file=sys.stderr)
            print(f"contracts check: {len(problems) or 'no'} problem(s) in {folder}")
            return 1 if problems else 0
        if args.contracts_action == "release":
            print(f"released {schema_files.release(args.name, folder)}")
            return 0
    except schema_files.SchemaFileError as exc:
        print(f"omni contracts {args.contracts_action}: {exc}", file=sys.stderr)
        return 1
    raise ValueError(f"unknown contracts action {args.contracts_action!r}")
