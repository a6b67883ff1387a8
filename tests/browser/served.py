"""A workbench served for a test: the real store, records and app, uvicorn in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from omnichannel.reference import load_reference
from omnichannel.topics import Topics
from omnichannel.workbench.app import create_app
from omnichannel.workbench.operations import MetricsWatch
from omnichannel.workbench.records import SystemRecords
from omnichannel.workbench.settings import WorkbenchSettings, parse_tokens
from omnichannel.workbench.store import CaseStore

TOKENS = "operator-token-ana=ana:operator,viewer-token-vic=vic:viewer"
SECRET = "browser-test-secret-0123456789"


@dataclass(frozen=True)
class Workbench:
    """A running workbench: where it answers, and its case store."""

    url: str
    store: CaseStore


def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Wait for `condition` to hold, checking every 0.1 s; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(0.1)


@contextmanager
def serve(bootstrap: str, topics: Topics, reference_file: Path) -> Iterator[Workbench]:
    """A workbench on the topics, on a free loopback port, ready (rebuilt) when yielded."""
    settings = WorkbenchSettings(
        port=0,
        tokens=parse_tokens(TOKENS),
        secret=SECRET,
        kafka_brokers=(bootstrap,),
        reference_file=reference_file,
        topics=topics,
    )
    brokers = [bootstrap]
    store = CaseStore(brokers, topics, None, reference_file)
    records = SystemRecords(brokers, topics, None, load_reference(reference_file))
    app = create_app(settings, store, records, MetricsWatch([], interval_s=1))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="workbench-server", daemon=True)
    thread.start()
    try:
        until(lambda: server.started or not thread.is_alive(), 60, "the workbench started")
        assert server.started, "the workbench's server did not start"
        [listening] = [s for srv in server.servers for s in srv.sockets]
        port = listening.getsockname()[1]
        until(lambda: store.ready() and records.ready(), 120, "the workbench rebuilt its state")
        yield Workbench(f"http://127.0.0.1:{port}", store)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
