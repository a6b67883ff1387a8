"""The machine and the versions a benchmark ran on, recorded beside its results."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import confluent_kafka

from omnichannel.localstack import PROJECT_ROOT, StackLayout

_KAFKA_JAR = re.compile(r"kafka_[\d.]+-(\d[\w.]*)\.jar$")


def describe_machine() -> dict[str, Any]:
    """CPU model, cores, RAM, load, and every version that shapes the numbers."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(_mem_total_kib() / 1024**2, 1),
        "load_average_1_5_15": [round(load, 2) for load in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "bytewax": metadata.version("bytewax"),
        "confluent_kafka": metadata.version("confluent-kafka"),
        "librdkafka": confluent_kafka.libversion()[0],
        "fastavro": metadata.version("fastavro"),
        "pydantic": metadata.version("pydantic"),
        "kafka": kafka_version(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
    }


def load_average() -> float:
    """The one-minute load average: what else competed for the cores."""
    return round(os.getloadavg()[0], 2)


def kafka_version() -> str:
    """The local broker's version, from its jar; unknown for a broker the user provides."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "unknown (external broker)"
    lib = StackLayout.from_env().kafka_lib
    for jar in sorted(lib.glob("kafka_*.jar")) if lib.is_dir() else []:
        found = _KAFKA_JAR.search(jar.name)
        if found:
            return found.group(1)
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
