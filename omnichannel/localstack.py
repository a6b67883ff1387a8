"""The local stack: a single-node Kafka broker (KRaft) and a Redis server, on loopback.

Both run as child processes of nobody: they are started in their own session, their pids kept
under `.stack/run/`, so that `down` stops exactly what `up` started and nothing else. The
broker runs from the Apache jars that Maven copies into `.stack/kafka/lib` (once per change of
`stack/kafka/pom.xml`); Redis is Debian's `redis-server`. Readiness is asked of the servers
themselves with their clients, never slept for.

When `KAFKA_BOOTSTRAP_SERVERS` or `REDIS_URL` is set, that service is the user's and nothing is
started for it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from omnichannel.kafka_settings import client_config
from omnichannel.settings import Connections, env_int

PROJECT_ROOT = Path(__file__).resolve().parents[1]
KAFKA_POM = PROJECT_ROOT / "stack" / "kafka" / "pom.xml"
KAFKA_PROPERTIES_TEMPLATE = PROJECT_ROOT / "stack" / "kafka" / "server.properties.template"
KAFKA_LOG4J = PROJECT_ROOT / "stack" / "kafka" / "log4j2.xml"

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


# Servers this process started itself, kept so that stopping them also collects their exit status.
_children: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """The local stack could not be set up, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class StackLayout:
    """Where the local stack keeps its jars, data, logs and pids, and the ports it listens on."""

    root: Path
    kafka_port: int
    controller_port: int
    redis_port: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackLayout:
        source = os.environ if env is None else env
        return cls(
            root=Path(source.get("OMNI_STACK_DIR") or PROJECT_ROOT / ".stack"),
            kafka_port=env_int("OMNI_KAFKA_PORT", 19092, source),
            controller_port=env_int("OMNI_KAFKA_CONTROLLER_PORT", 19093, source),
            redis_port=env_int("OMNI_REDIS_PORT", 16379, source),
        )

    @property
    def kafka_lib(self) -> Path:
        return self.root / "kafka" / "lib"

    @property
    def kafka_data(self) -> Path:
        return self.root / "data" / "kafka"

    @property
    def redis_data(self) -> Path:
        return self.root / "data" / "redis"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def pid_file(self, service: str) -> Path:
        return self.root / "run" / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"


@dataclass(frozen=True)
class ServiceState:
    """What `up` found or did for one service."""

    name: str
    address: str
    started: bool
    seconds_to_ready: float


def up(env: Mapping[str, str] | None = None) -> tuple[Connections, list[ServiceState]]:
    """Make sure Kafka and Redis answer, starting the local ones the user did not provide."""
    source = os.environ if env is None else env
    layout = StackLayout.from_env(source)
    states: list[ServiceState] = []
    with _stack_lock(layout):
        kafka = source.get("KAFKA_BOOTSTRAP_SERVERS") or ""
        if kafka:
            states.append(ServiceState("kafka", kafka, started=False, seconds_to_ready=0.0))
        else:
            states.append(start_kafka(layout))
            kafka = layout.kafka_bootstrap
        redis_url = source.get("REDIS_URL") or ""
        if redis_url:
            states.append(ServiceState("redis", redis_url, started=False, seconds_to_ready=0.0))
        else:
            states.append(start_redis(layout))
            redis_url = layout.redis_url
    return Connections(kafka_bootstrap_servers=kafka, redis_url=redis_url), states


def down(env: Mapping[str, str] | None = None) -> list[str]:
    """Stop the services that `up` started (by their pid files); return the names stopped."""
    layout = StackLayout.from_env(env)
    with _stack_lock(layout):
        return [name for name in ("kafka", "redis") if _stop(layout, name)]


def running(layout: StackLayout, service: str) -> int | None:
    """The pid of the service that `up` started, if that very process is still alive."""
    pid_file = layout.pid_file(service)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    marker = {"kafka": b"kafka.Kafka", "redis": b"redis-server"}[service]
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if marker not in cmdline or _is_zombie(pid):
        return None
    return pid


def start_kafka(
    layout: StackLayout,
    extra_properties: Mapping[str, str] | None = None,
    scram_credentials: Sequence[str] = (),
) -> ServiceState:
    """Start the KRaft broker unless ours already runs; return once it serves metadata.

    `extra_properties` go after the template's, so that a key given here (the listeners, say)
    replaces the template's. `scram_credentials` (`SCRAM-SHA-256=[name=N,password=P]`) are
    written into the cluster metadata when the storage is formatted, before the broker first
    starts: a SASL/SCRAM listener needs them to let in its first client, and the broker itself.
    Readiness is asked with the client settings of the environment (`client_config`).
    """
    began = time.monotonic()
    pid = running(layout, "kafka")
    if pid is not None:
        wait_for_kafka(layout.kafka_bootstrap, pid)
        return ServiceState("kafka", layout.kafka_bootstrap, False, time.monotonic() - began)
    _require_free_port(layout.kafka_port, "OMNI_KAFKA_PORT")
    _require_free_port(layout.controller_port, "OMNI_KAFKA_CONTROLLER_PORT")
    java = ensure_command("java", "openjdk-17-jre-headless")
    ensure_kafka_jars(layout)
    properties = _write_kafka_properties(layout, extra_properties)
    classpath = f"{layout.kafka_lib}/*"
    if not (layout.kafka_data / "meta.properties").exists():
        _format_kafka_storage(java, classpath, properties, scram_credentials)
    began = time.monotonic()
    pid = _spawn(
        layout,
        "kafka",
        [
            java,
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties),
        ],
    )
    wait_for_kafka(layout.kafka_bootstrap, pid, log_file=layout.log_file("kafka"))
    return ServiceState("kafka", layout.kafka_bootstrap, True, time.monotonic() - began)


def start_redis(layout: StackLayout) -> ServiceState:
    """Start redis-server unless ours already runs; return once it answers PING."""
    began = time.monotonic()
    pid = running(layout, "redis")
    if pid is not None:
        wait_for_redis(layout.redis_url, pid)
        return ServiceState("redis", layout.redis_url, False, time.monotonic() - began)
    _require_free_port(layout.redis_port, "OMNI_REDIS_PORT")
    server = ensure_command("redis-server", "redis-server")
    layout.redis_data.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    pid = _spawn(
        layout,
        "redis",
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(layout.redis_port),
            "--dir",
            str(layout.redis_data),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
    )
    wait_for_redis(layout.redis_url, pid, log_file=layout.log_file("redis"))
    return ServiceState("redis", layout.redis_url, True, time.monotonic() - began)


def wait_for_kafka(bootstrap: str, pid: int | None = None, log_file: Path | None = None) -> None:
    """Poll the broker with an AdminClient until it lists a broker in its metadata."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    admin: AdminClient | None = None
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        _require_alive(pid, "kafka", log_file)
        # A refused TCP connect is cheap and keeps librdkafka from logging a storm of retries.
        if not _port_open(host, int(port)):
            time.sleep(0.1)
            continue
        admin = admin or AdminClient({**client_config(bootstrap.split(","))})
        try:
            metadata = admin.list_topics(timeout=2)
        except KafkaException as exc:
            last_error = str(exc)
            continue
        if metadata.brokers:
            return
    raise StackError(f"Kafka at {bootstrap} not ready after {READY_TIMEOUT_S:.0f}s: {last_error}")


def wait_for_redis(url: str, pid: int | None = None, log_file: Path | None = None) -> None:
    """Poll Redis with PING until it answers."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    last_error = "no answer yet"
    try:
        while time.monotonic() < deadline:
            _require_alive(pid, "redis", log_file)
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                last_error = str(exc)
            time.sleep(0.05)
    finally:
        client.close()
    raise StackError(f"Redis at {url} not ready after {READY_TIMEOUT_S:.0f}s: {last_error}")


def ensure_kafka_jars(layout: StackLayout) -> None:
    """Copy the broker's jars from Maven Central once per version of `stack/kafka/pom.xml`."""
    stamp = layout.kafka_lib / ".pom-sha256"
    wanted = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    mvn = ensure_command("mvn", "maven")
    if layout.kafka_lib.exists():
        shutil.rmtree(layout.kafka_lib)
    result = subprocess.run(
        [
            mvn,
            "--batch-mode",
            "--quiet",
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={layout.kafka_lib}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(
            f"Maven could not fetch the Kafka jars (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    stamp.write_text(wanted + "\n")


def ensure_command(command: str, debian_package: str) -> str:
    """The path of `command`; as root, apt-get installs its package first when it is absent."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0:
        raise StackError(
            f"{command} is not installed: run `sudo apt-get install -y {debian_package}`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", debian_package]):
        result = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise StackError(f"`{' '.join(step)}` failed:\n{result.stderr[-2000:]}")
    found = shutil.which(command)
    if not found:
        raise StackError(f"{debian_package} was installed but {command} is not on PATH")
    return found


def _write_kafka_properties(layout: StackLayout, extra: Mapping[str, str] | None = None) -> Path:
    layout.kafka_data.mkdir(parents=True, exist_ok=True)
    rendered = KAFKA_PROPERTIES_TEMPLATE.read_text().format(
        broker_port=layout.kafka_port,
        controller_port=layout.controller_port,
        data_dir=layout.kafka_data,
    )
    if extra:
        # java.util.Properties keeps the last value of a repeated key.
        rendered += "\n# Given to start_kafka; these replace the template's.\n"
        rendered += "".join(f"{key}={value}\n" for key, value in extra.items())
    path = layout.root / "kafka" / "server.properties"
    path.write_text(rendered)
    return path


def new_cluster_id() -> str:
    """A random KRaft cluster id, as Kafka's own `Uuid.randomUuid` makes them: base64url, and
    never starting with a dash (the storage tool would read one as an option; 1 in 64 did)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_kafka_storage(
    java: str, classpath: str, properties: Path, scram_credentials: Sequence[str] = ()
) -> None:
    cluster_id = new_cluster_id()
    scram = [arg for credential in scram_credentials for arg in ("--add-scram", credential)]
    result = subprocess.run(
        [
            java,
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--cluster-id",
            cluster_id,
            "--config",
            str(properties),
            *scram,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        for credential in scram_credentials:
            output = output.replace(credential, "SCRAM-...=[redacted]")
        raise StackError(f"Kafka storage format failed:\n{output}")


def _spawn(layout: StackLayout, service: str, argv: list[str]) -> int:
    log_file = layout.log_file(service)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    layout.pid_file(service).parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.root,
            start_new_session=True,
        )
    _children[process.pid] = process
    layout.pid_file(service).write_text(f"{process.pid}\n")
    return process.pid


def _stop(layout: StackLayout, service: str) -> bool:
    pid = running(layout, service)
    layout_pid_file = layout.pid_file(service)
    if pid is None:
        layout_pid_file.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and running(layout, service) is not None:
        time.sleep(0.1)
    if running(layout, service) is not None:
        os.killpg(pid, signal.SIGKILL)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()
    layout_pid_file.unlink(missing_ok=True)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def _require_alive(pid: int | None, service: str, log_file: Path | None) -> None:
    if pid is None or (Path(f"/proc/{pid}").exists() and not _is_zombie(pid)):
        return
    tail = ""
    if log_file is not None and log_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
    raise StackError(f"{service} (pid {pid}) exited before it was ready. Log tail:\n{tail}")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_free_port(port: int, setting: str) -> None:
    if _port_open("127.0.0.1", port):
        raise StackError(
            f"port {port} on 127.0.0.1 is taken by another program: stop it, or choose "
            f"another port with {setting}"
        )


@contextmanager
def _stack_lock(layout: StackLayout) -> Iterator[None]:
    """Serialise `up` and `down` across processes (make and a test run at the same time)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with (layout.root / "stack.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
