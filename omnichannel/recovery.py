"""Recovery for the flows, on by default: Bytewax's SQLite snapshots of state and input offsets.

`omni run FLOW` prepares the recovery partitions (once; as many as the most workers the flow
will ever run, since partitions bound rescaling) and starts the flow with them:

    RECOVERY_DIR        where the partitions live (default `.stack/recovery/<flow>`; a volume
                        in Kubernetes); `RECOVERY=off` runs without recovery
    RECOVERY_PARTITIONS partitions to create the first time (default 8)
    SNAPSHOT_INTERVAL_S seconds between snapshots, the epoch length (default 10)
    BACKUP_INTERVAL_S   seconds a superseded snapshot is kept, for a backup to catch up
                        (default 30)

On restart a flow resumes from its last snapshot: state and input offsets as they were at the
end of that epoch. What it published after that epoch is published again: availability
updates carry versions (the read model refuses the older), postings keep their idempotency
keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bytewax.recovery import init_db_dir

from omnichannel.localstack import PROJECT_ROOT
from omnichannel.settings import SettingError, env_bool, env_int

FLOWS = ("normalization", "availability", "finance")


@dataclass(frozen=True)
class RecoverySettings:
    """Where a flow keeps its recovery partitions and how often it snapshots."""

    directory: Path | None
    partitions: int
    snapshot_interval: timedelta
    backup_interval: timedelta

    @classmethod
    def from_env(cls, flow: str, env: Mapping[str, str] | None = None) -> RecoverySettings:
        source = os.environ if env is None else env
        on = env_bool("RECOVERY", default=True, env=source)
        default_dir = PROJECT_ROOT / ".stack" / "recovery" / flow
        partitions = env_int("RECOVERY_PARTITIONS", 8, source)
        if partitions < 1:
            raise SettingError(f"RECOVERY_PARTITIONS must be at least 1, got {partitions}")
        return cls(
            directory=Path(source.get("RECOVERY_DIR") or default_dir) if on else None,
            partitions=partitions,
            snapshot_interval=timedelta(seconds=env_int("SNAPSHOT_INTERVAL_S", 10, source)),
            backup_interval=timedelta(seconds=env_int("BACKUP_INTERVAL_S", 30, source)),
        )


def prepare(settings: RecoverySettings) -> int:
    """Create the recovery partitions unless they exist; return how many there are."""
    if settings.directory is None:
        return 0
    existing = sorted(settings.directory.glob("part-*.sqlite3"))
    if existing:
        return len(existing)
    settings.directory.mkdir(parents=True, exist_ok=True)
    init_db_dir(settings.directory, settings.partitions)  # type: ignore[no-untyped-call]
    return settings.partitions


def run_arguments(flow: str, settings: RecoverySettings) -> list[str]:
    """The `python -m bytewax.run` arguments that run `flow` with this recovery."""
    if flow not in FLOWS:
        raise SettingError(f"no flow named {flow!r}; the flows are {', '.join(FLOWS)}")
    arguments = ["-m", "bytewax.run", f"dataflows.{flow}:flow"]
    if settings.directory is None:
        return arguments
    return [
        *arguments,
        "-r",
        str(settings.directory),
        "-s",
        str(int(settings.snapshot_interval.total_seconds())),
        "-b",
        str(int(settings.backup_interval.total_seconds())),
    ]
