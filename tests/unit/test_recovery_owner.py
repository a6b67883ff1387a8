"""One live process per recovery store: who may take the lease, and who must wait or stop."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from omnichannel.recovery_owner import (
    LEASE_FILE,
    WAIT_SETTING,
    Lease,
    OwnerSettings,
    StoreHeld,
    acquire,
    renew,
)
from omnichannel.settings import SettingError

NO_WAIT = OwnerSettings(lease=timedelta(seconds=30), wait=timedelta(0))


def held_by(directory: Path, pid: int, renewed_s_ago: float) -> None:
    lease = Lease("someone-else", pid, socket.gethostname(), time.time() - renewed_s_ago)
    (directory / LEASE_FILE).write_text(json.dumps(lease.__dict__), encoding="utf-8")


def a_finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_free_store_is_taken_and_renewed_by_its_owner(tmp_path: Path) -> None:
    token = acquire(tmp_path, NO_WAIT)
    lease = json.loads((tmp_path / LEASE_FILE).read_text())
    assert (lease["owner"], lease["pid"]) == (token, os.getpid())
    assert renew(tmp_path, token) is None


def test_a_store_renewed_by_a_live_process_is_refused_naming_the_setting(tmp_path: Path) -> None:
    held_by(tmp_path, os.getppid(), renewed_s_ago=1)
    with pytest.raises(StoreHeld, match=WAIT_SETTING) as refused:
        acquire(tmp_path, NO_WAIT)
    assert f"pid {os.getppid()}" in str(refused.value)
    assert json.loads((tmp_path / LEASE_FILE).read_text())["owner"] == "someone-else"


def test_a_lapsed_lease_is_taken_over_and_its_holder_finds_it_gone(tmp_path: Path) -> None:
    held_by(tmp_path, os.getppid(), renewed_s_ago=31)
    token = acquire(tmp_path, NO_WAIT)
    taken = renew(tmp_path, "someone-else")
    assert taken is not None
    assert taken.owner == token


def test_the_lease_of_a_process_that_died_on_this_host_is_taken_at_once(tmp_path: Path) -> None:
    held_by(tmp_path, a_finished_pid(), renewed_s_ago=0)
    assert acquire(tmp_path, NO_WAIT)


def test_a_partition_a_paused_process_holds_locked_is_waited_for(tmp_path: Path) -> None:
    held_by(tmp_path, a_finished_pid(), renewed_s_ago=0)
    database = tmp_path / "part-0.sqlite3"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreHeld, match=r"SQLite locks on part-0\.sqlite3"):
            acquire(tmp_path, NO_WAIT)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert acquire(tmp_path, NO_WAIT)


def test_settings_are_checked_naming_them() -> None:
    with pytest.raises(SettingError, match="RECOVERY_LEASE_S"):
        OwnerSettings.from_env({"RECOVERY_LEASE_S": "1"})
    assert OwnerSettings.from_env({}).lease == timedelta(seconds=30)
