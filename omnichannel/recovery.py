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
import tempfile
from collections.abc import Mapping, Sequence
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


def prepare(settings: RecoverySettings, process_id: int = 0, processes: int = 1) -> int:
    """Create this process's recovery partitions unless it has some; return how many it holds.

    A Bytewax cluster resumes only when it holds every partition exactly once: the first time,
    process i of n keeps partitions i, i + n, i + 2n, ... in its own directory (a single
    process keeps them all). A directory that holds every partition while it is one process
    of several is refused: it resumes as if from nothing (tried: the state starts over, and
    with it the postings), so its partitions must be spread first (`omni recovery spread`).
    """
    if settings.directory is None:
        return 0
    existing = partitions_in([settings.directory])
    if existing:
        if processes > 1 and len(existing) == settings.partitions:
            raise SettingError(
                f"RECOVERY_DIR {settings.directory} holds all {len(existing)} recovery "
                f"partitions, but this is process {process_id} of {processes}: give each "
                "process its share first (omni recovery spread, docs/peak-season.md)"
            )
        return len(existing)
    settings.directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.directory) as staging:
        init_db_dir(Path(staging), settings.partitions)  # type: ignore[no-untyped-call]
        share = range(process_id, settings.partitions, processes)
        for partition in share:
            name = f"part-{partition}.sqlite3"
            (Path(staging) / name).rename(settings.directory / name)
    return len(share)


def partitions_in(directories: Sequence[Path]) -> dict[int, Path]:
    """Every recovery partition in the directories, by number; a number found twice is refused."""
    found: dict[int, Path] = {}
    for directory in directories:
        for path in sorted(directory.glob("part-*.sqlite3")):
            partition = int(path.name.removeprefix("part-").removesuffix(".sqlite3"))
            if partition in found:
                raise SettingError(
                    f"recovery partition {partition} is in both {found[partition].parent} "
                    f"and {directory}: a cluster must hold each partition once"
                )
            found[partition] = path
    return found


def spread(sources: Sequence[Path], targets: Sequence[Path]) -> dict[int, Path]:
    """Move the recovery partitions so that partition p lives in `targets[p % len(targets)]`.

    For a flow stopped (every process of it): changing how many processes it runs as. All
    partitions 0..n-1 must be found in `sources`, each once; SQLite's journal files move with
    their database. Returns where each partition is now.
    """
    found = partitions_in(sources)
    missing = sorted(set(range(len(found))) - found.keys())
    if not found or missing:
        raise SettingError(
            f"recovery partitions missing from {', '.join(map(str, sources))}: "
            f"{missing or 'all'}; a flow resumes only from the whole set"
        )
    placed: dict[int, Path] = {}
    for partition, path in sorted(found.items()):
        target = targets[partition % len(targets)]
        target.mkdir(parents=True, exist_ok=True)
        for part_file in path.parent.glob(f"{path.name}*"):  # the db, its -wal and -shm
            part_file.rename(target / part_file.name)
        placed[partition] = target / path.name
    return placed


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
