"""The three flows as `omni run` processes that a harness can start, kill -9 and start again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from omnichannel.localstack import PROJECT_ROOT

FLOWS = ("normalization", "availability", "finance")
TAIL_SETTING = {
    "normalization": "NORMALIZE_TAIL",
    "availability": "AVAILABILITY_TAIL",
    "finance": "FINANCE_TAIL",
}


@dataclass
class FlowProcess:
    """One flow's process (or one process of a flow run as a cluster), with its own log file.

    Recovery is on (through `omni run`) in `recovery_dir`; every start of the same flow resumes
    from it. The process leads its own session, so a kill reaches the flow and nothing else.
    """

    flow: str
    env: dict[str, str]
    log_dir: Path
    cluster: tuple[int, int, int] | None = None  # (process id, processes, first port)
    workers: int = 1
    starts: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.flow if self.cluster is None else f"{self.flow}-{self.cluster[0]}"

    def start(self, tail: bool) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.name} runs"
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "omnichannel.cli", "run", self.flow]
        command += ["-w", str(self.workers)]
        if self.cluster is not None:
            process_id, processes, first_port = self.cluster
            addresses = ";".join(f"127.0.0.1:{first_port + n}" for n in range(processes))
            command += ["-i", str(process_id), "-a", addresses]
        env = {
            **os.environ,
            "METRICS_PORT": "0",  # several flows share this machine: no port of their own
            **self.env,
            TAIL_SETTING[self.flow]: "true" if tail else "false",
        }
        with (self.log_dir / f"{self.name}.log").open("ab") as log:
            log.write(f"--- start {self.starts} (tail={tail})\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, env=env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the flow's whole process group, and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def wait(self, timeout_s: float) -> int:
        """Wait for the flow to end by itself; its exit status."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not end within {timeout_s:.0f}s") from None

    def log_tail(self, characters: int = 3000) -> str:
        path = self.log_dir / f"{self.name}.log"
        return path.read_text(errors="replace")[-characters:] if path.exists() else ""


def run_to_end(processes: list[FlowProcess], timeout_s: float = 600) -> None:
    """Start the processes without tailing and wait until every one has read to its end."""
    for process in processes:
        process.start(tail=False)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        status = process.wait(max(1.0, deadline - time.monotonic()))
        assert status == 0, f"{process.name} exited {status}:\n{process.log_tail()}"
