"""Python's cyclic garbage collector, tuned for a flow process.

A flow keeps a batch of decoded records (a few container objects each) alive while Bytewax
moves it through the steps, and its state grows with every order and SKU. Under Python's
default thresholds (700, 10, 10) a young collection runs every 700 net new containers: each
batch is traversed several times, survives into the older generations, and the state is
walked again and again. py-spy (`--native`) put 33% of the availability flow's CPU in
`gc_collect_main`. Objects here die by reference counting; the collector only has to find
rare cycles, so it can run far less often. `gc.freeze()` moves what exists once the flow is
built (modules, schemas, reference data) out of its sight for good.

`GC_THRESHOLDS` (three integers, `G0,G1,G2`) overrides the thresholds; `0,0,0` turns
automatic collection off (for measuring only).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from omnichannel.settings import SettingError

logger = logging.getLogger(__name__)

SETTING = "GC_THRESHOLDS"
# A young collection per 100,000 net new containers: above a batch's worth of records.
DEFAULT_THRESHOLDS = (100_000, 50, 100)


def thresholds_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """The collector's thresholds: `GC_THRESHOLDS` when set, else `DEFAULT_THRESHOLDS`."""
    raw = (os.environ if env is None else env).get(SETTING, "").strip()
    if not raw:
        return DEFAULT_THRESHOLDS
    try:
        first, second, third = (int(part) for part in raw.split(","))
    except ValueError:
        raise SettingError(f"{SETTING} must be three integers G0,G1,G2, got {raw!r}") from None
    if min(first, second, third) < 0:
        raise SettingError(f"{SETTING} must not be negative, got {raw!r}")
    return first, second, third


def configure_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """Set the thresholds and freeze what the process holds so far; call once the flow is built."""
    thresholds = thresholds_from_env(env)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    logger.info("garbage collector thresholds %s, %d objects frozen", thresholds,
                gc.get_freeze_count())  # fmt: skip
    return thresholds


@contextmanager
def tuned_for_run(env: Mapping[str, str] | None = None) -> Iterator[tuple[int, int, int]]:
    """`configure_from_env` for a flow run inside a longer process (the demo, a test): the
    thresholds and the freeze are undone when the run ends."""
    before = gc.get_threshold()
    thresholds = configure_from_env(env)
    try:
        yield thresholds
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
