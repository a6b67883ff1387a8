"""Child processes measured as the kernel accounts them: wall time, CPU time, peak memory.

Each flow runs as its own `python -m bytewax.run` process; `os.wait4` returns the child's CPU
seconds (user and system) when it ends. Its peak resident set is read from `VmHWM` in
`/proc/<pid>/status` every 0.1 s while it runs: `ru_maxrss` would not do, as Linux carries
into it the resident set the child had before its exec, a copy of this (large) process. A
child can be wrapped in `py-spy record` to profile it; its usage is then py-spy's, so
profiled runs are never the measured ones.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from omnichannel.localstack import PROJECT_ROOT

POLL_S = 0.05
MEMORY_EVERY_S = 0.1
PY_SPY = Path(sys.executable).with_name("py-spy")
# `--native` adds the frames of Bytewax's Rust core (and librdkafka) to a profile.
NATIVE = ["--native"] if os.environ.get("BENCH_PROFILE_NATIVE") == "1" else []


@dataclass(frozen=True)
class Usage:
    """What one child process took, measured by the kernel."""

    wall_s: float
    user_s: float
    system_s: float
    max_rss_bytes: int
    returncode: int

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s

    def as_json(self) -> dict[str, float | int]:
        return {
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "user_s": round(self.user_s, 3),
            "system_s": round(self.system_s, 3),
            "max_rss_bytes": self.max_rss_bytes,
            "returncode": self.returncode,
        }


class ChildFailed(RuntimeError):
    """A measured child exited with an error; the message holds the end of its log."""


class Child:
    """A measured child process; its output goes to a log file (a pipe could fill and block)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        profile_to: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        command = list(argv)
        if profile_to is not None:
            profile_to.parent.mkdir(parents=True, exist_ok=True)
            command = [str(PY_SPY), "record", "--format", "speedscope", "--rate", "200",
                       *NATIVE, "-o", str(profile_to), "--", *command]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.started = time.perf_counter()
            self._process = subprocess.Popen(
                command,
                env={**os.environ, **env},
                cwd=cwd or PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.usage: Usage | None = None
        self._peak_kib = 0
        threading.Thread(target=self._watch_memory, daemon=True).start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def poll(self) -> Usage | None:
        """The child's usage once it has ended, without waiting; None while it runs."""
        if self.usage is None:
            pid, status, rusage = os.wait4(self._process.pid, os.WNOHANG)
            if pid == 0:
                return None
            self._ended(status, rusage)
        return self.usage

    def wait(self, timeout_s: float) -> Usage:
        """Wait for the child to end; after `timeout_s` it is stopped and ChildFailed raised."""
        deadline = time.monotonic() + timeout_s
        while (usage := self.poll()) is None:
            if time.monotonic() > deadline:
                self.stop()
                raise ChildFailed(f"{self.name} did not end within {timeout_s:.0f}s{self._tail()}")
            time.sleep(POLL_S)
        return usage

    def wait_ok(self, timeout_s: float) -> Usage:
        """Wait for the child to end and require exit code 0."""
        usage = self.wait(timeout_s)
        if usage.returncode != 0:
            raise ChildFailed(f"{self.name} exited with {usage.returncode}{self._tail()}")
        return usage

    def stop(self, grace_s: float = 20.0) -> Usage:
        """Interrupt the child (as Ctrl-C would), then kill it if it does not end in `grace_s`."""
        if self.usage is None:
            self._signal(signal.SIGINT)
            deadline = time.monotonic() + grace_s
            while self.poll() is None:
                if time.monotonic() > deadline:
                    self._signal(signal.SIGKILL)
                    _, status, rusage = os.wait4(self._process.pid, 0)
                    self._ended(status, rusage)
                    break
                time.sleep(POLL_S)
        assert self.usage is not None
        return self.usage

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    def _ended(self, status: int, rusage: resource.struct_rusage) -> None:
        wall = time.perf_counter() - self.started
        code = os.waitstatus_to_exitcode(status)
        self._process.returncode = code
        self.usage = Usage(
            wall_s=wall,
            user_s=rusage.ru_utime,
            system_s=rusage.ru_stime,
            max_rss_bytes=self._peak_kib * 1024,
            returncode=code,
        )

    def _watch_memory(self) -> None:
        status = Path(f"/proc/{self._process.pid}/status")
        while self.usage is None:
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self._peak_kib = max(self._peak_kib, int(line.split()[1]))
            time.sleep(MEMORY_EVERY_S)

    def _tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"; the end of {self.log_path}:\n{text[-3000:]}"


def flow_argv(flow: str, workers: int = 1, process: tuple[int, str] | None = None) -> list[str]:
    """`python -m bytewax.run dataflows.<flow>:flow`, with workers or a process of a cluster.

    Without `-r` Bytewax runs without recovery (snapshots still happen every epoch, in memory).
    """
    argv = [sys.executable, "-m", "bytewax.run", f"dataflows.{flow}:flow"]
    if workers > 1:
        argv += ["-w", str(workers)]
    if process is not None:
        index, addresses = process
        argv += ["-i", str(index), "-a", addresses]
    return argv
