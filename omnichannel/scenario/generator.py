"""Generate a scenario: simulate the day, inject its faults, number it and write its manifest."""

from __future__ import annotations

import gc

from omnichannel.reference import ReferenceData
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.day import simulate_day
from omnichannel.scenario.faults import FaultInjector
from omnichannel.scenario.manifest import publish
from omnichannel.scenario.records import Scenario


def generate(settings: ScenarioSettings, reference: ReferenceData) -> Scenario:
    """The trading day `settings` describes, deterministic for its seed.

    Raises `SettingError` when reference data cannot serve the settings (too many SKUs, an
    unknown location, a channel without a location that sells for it).
    """
    collecting = gc.isenabled()
    # The day builds hundreds of thousands of long-lived objects and no cycles; letting the
    # cyclic collector rescan them over and over costs a third of the run.
    gc.disable()
    try:
        log = simulate_day(settings, reference)
        FaultInjector(log, reference, settings.seed).inject(settings.faults)
        return publish(settings, log)
    finally:
        if collecting:
            gc.enable()
