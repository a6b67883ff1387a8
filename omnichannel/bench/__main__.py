"""`python -m omnichannel.bench MODE`: see `omnichannel.bench`."""

from __future__ import annotations

import argparse
import sys

from omnichannel.bench import __doc__ as overview
from omnichannel.bench.cli import add_modes, run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m omnichannel.bench",
        description=overview,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_modes(parser)
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
