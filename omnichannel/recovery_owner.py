"""One live process per recovery store: a lease a successor takes only once it lapsed, and that a
paused process finds taken when it wakes.

Two processes running the same recovery partitions would both resume from them and both write
to them (and a paused one holds SQLite's lock: its successor failed at start on "database is
locked"). So `omni run` takes the store's lease (`owner.json` in the recovery directory, read
and written under an exclusive `flock`) before it starts a flow, and the flow renews it every
third of `RECOVERY_LEASE_S`:

- free, lapsed (not renewed for `RECOVERY_LEASE_S`), or held by a process of this host that
  no longer exists (a crash): taken at once;
- held and renewed: the successor says who holds it, waits up to `RECOVERY_OWNER_WAIT_S` for
  it to lapse, and exits naming the setting if it does not; it never half-starts;
- a recovery partition still locked by SQLite (its holder was paused mid-write): the same wait.

A paused process whose lease lapsed and was taken stops as soon as it runs again: its renewal
finds another owner, logs that it was fenced, and ends the process before it writes on. Its
postings are fenced by Kafka as well (`omnichannel.postings_sink`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from omnichannel.settings import SettingError, env_int

logger = logging.getLogger(__name__)

LEASE_SETTING = "RECOVERY_LEASE_S"
WAIT_SETTING = "RECOVERY_OWNER_WAIT_S"
# Handed by `omni run` to the flow it starts: where the lease is, and whose it is.
LEASE_DIR_ENV = "OMNI_RECOVERY_LEASE_DIR"
OWNER_ENV = "OMNI_RECOVERY_OWNER"
LEASE_FILE = "owner.json"
LOCK_FILE = "owner.lock"
EXIT_FENCED = 75  # EX_TEMPFAIL: a supervisor may start it again; it will wait for the lease


class StoreHeld(SettingError):
    """Another live process holds the recovery store."""


@dataclass(frozen=True)
class Lease:
    """Who runs a recovery store, and when they last said so (seconds since the epoch)."""

    owner: str
    pid: int
    host: str
    renewed: float

    def lapsed(self, now: float, ttl: timedelta) -> bool:
        return now - self.renewed >= ttl.total_seconds()

    def holder_gone(self) -> bool:
        """The holder was a process of this host that no longer exists (or whose pid is ours:
        a container started again)."""
        if self.host != socket.gethostname():
            return False
        if self.pid == os.getpid():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self, now: float) -> str:
        return f"pid {self.pid} on {self.host} (renewed {now - self.renewed:.0f}s ago)"


@dataclass(frozen=True)
class OwnerSettings:
    lease: timedelta
    wait: timedelta

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OwnerSettings:
        lease = env_int(LEASE_SETTING, 30, env)
        wait = env_int(WAIT_SETTING, 120, env)
        if lease < 3:
            raise SettingError(f"{LEASE_SETTING} must be at least 3 (seconds), got {lease}")
        if wait < 0:
            raise SettingError(f"{WAIT_SETTING} must be 0 or more (seconds), got {wait}")
        return cls(timedelta(seconds=lease), timedelta(seconds=wait))


def acquire(directory: Path, settings: OwnerSettings) -> str:
    """Take the store's lease for this process, waiting for a live holder's lease to lapse and
    for SQLite's locks to be free; return the owner token."""
    deadline = time.monotonic() + settings.wait.total_seconds()
    told = False
    while True:
        with _locked(directory):
            now = time.time()
            lease = _read(directory)
            if lease is None or lease.lapsed(now, settings.lease) or lease.holder_gone():
                busy = _locked_partitions(directory)
                if not busy:
                    token = uuid.uuid4().hex
                    _write(directory, Lease(token, os.getpid(), socket.gethostname(), now))
                    if lease is not None and not lease.holder_gone():
                        logger.warning(
                            "recovery store %s: took over from %s, whose lease lapsed",
                            directory, lease.describe(now),
                        )  # fmt: skip
                    return token
                held_by = f"SQLite locks on {', '.join(busy)} (a paused process holds them)"
            else:
                held_by = f"{lease.describe(now)}, lease {settings.lease.total_seconds():.0f}s"
        if time.monotonic() >= deadline:
            raise StoreHeld(
                f"recovery store {directory} is held by {held_by}: another process runs these "
                f"recovery partitions. Stop it, or let {WAIT_SETTING} "
                f"({settings.wait.total_seconds():.0f}s) cover its {LEASE_SETTING}"
            )
        if not told:
            logger.warning("recovery store %s is held by %s: waiting", directory, held_by)
            told = True
        time.sleep(1)


def keep_from_env(env: Mapping[str, str] | None = None) -> threading.Thread | None:
    """In a flow started by `omni run` with recovery: renew its lease until the process ends,
    and end the process at once if another took the lease over."""
    source = os.environ if env is None else env
    directory, token = source.get(LEASE_DIR_ENV), source.get(OWNER_ENV)
    if not directory or not token:
        return None
    settings = OwnerSettings.from_env(source)
    thread = threading.Thread(
        target=_renew_forever,
        args=(Path(directory), token, settings.lease),
        name="recovery-lease",
        daemon=True,
    )
    thread.start()
    return thread


def renew(directory: Path, token: str) -> Lease | None:
    """Renew the lease if it is still `token`'s; otherwise return the lease that replaced it."""
    with _locked(directory):
        lease = _read(directory)
        if lease is not None and lease.owner != token:
            return lease
        _write(directory, Lease(token, os.getpid(), socket.gethostname(), time.time()))
        return None


def _renew_forever(directory: Path, token: str, ttl: timedelta) -> None:
    every = ttl.total_seconds() / 3
    while True:
        taken = renew(directory, token)
        if taken is not None:
            logger.error(
                "fenced: recovery store %s was taken over by %s while this process was not "
                "running; it stops now, without writing on",
                directory, taken.describe(time.time()),
            )  # fmt: skip
            logging.shutdown()
            os._exit(EXIT_FENCED)
        time.sleep(every)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(directory: Path) -> Lease | None:
    path = directory / LEASE_FILE
    if not path.exists():
        return None
    try:
        return Lease(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise SettingError(f"recovery store {directory}: unreadable {LEASE_FILE}: {exc}") from exc


def _write(directory: Path, lease: Lease) -> None:
    staged = directory / f".{LEASE_FILE}.{os.getpid()}"
    staged.write_text(json.dumps(asdict(lease)), encoding="utf-8")
    staged.replace(directory / LEASE_FILE)


def _locked_partitions(directory: Path) -> list[str]:
    """Recovery partitions whose SQLite database another connection holds locked."""
    busy = []
    for path in sorted(directory.glob("part-*.sqlite3")):
        connection = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            connection.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            busy.append(path.name)
        finally:
            connection.close()
    return busy
