"""SASL/SCRAM end to end, on a private broker of this module's own (the shared one is untouched).

The broker's only client listener is SASL_PLAINTEXT with SCRAM-SHA-256; the credentials are
written into the metadata when its storage is formatted. A client without credentials or with a
wrong password is refused; with the credentials in the environment the normalization and mirror
flows run as `python -m bytewax.run` processes, and the password shows up in none of their
output and none of the records they write.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from omnichannel import localstack
from omnichannel.kafka_admin import ensure_topics
from omnichannel.kafka_settings import client_config
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka
from omnichannel.topics import Topics
from tests.integration.kafka_topics import run_flow, topic_env

MECHANISM = "SCRAM-SHA-256"
TOPICS = Topics()


@dataclass(frozen=True)
class SaslBroker:
    bootstrap: str
    password: str
    env: dict[str, str]
    """The client settings of a flow that may talk to it."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _java_processes_under(root: Path) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in listing.stdout.splitlines() if "java" in line and str(root) in line]


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslBroker]:
    """A one-node KRaft broker whose client listener takes only SASL/SCRAM, stopped afterwards."""
    root = tmp_path_factory.mktemp("sasl-stack")
    layout = localstack.StackLayout(root, _free_port(), _free_port(), _free_port())
    # The jars are the shared stack's: linked, not fetched again.
    shared = localstack.StackLayout.from_env()
    localstack.ensure_kafka_jars(shared)
    layout.kafka_lib.parent.mkdir(parents=True)
    layout.kafka_lib.symlink_to(shared.kafka_lib, target_is_directory=True)

    password, broker_password = secrets.token_hex(12), secrets.token_hex(12)
    listener = f"SASL_PLAINTEXT://{layout.kafka_bootstrap}"
    properties = {
        "listeners": f"{listener},CONTROLLER://127.0.0.1:{layout.controller_port}",
        "advertised.listeners": listener,
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="broker" password="{broker_password}";'
        ),
    }
    credentials = [
        f"{MECHANISM}=[name=broker,password={broker_password}]",
        f"{MECHANISM}=[name=omni,password={password}]",
    ]
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": layout.kafka_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": MECHANISM,
        "KAFKA_SASL_USERNAME": "omni",
        "KAFKA_SASL_PASSWORD": password,
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            # Readiness is asked with the environment's client settings: the broker's own.
            for name, value in env.items():
                patch.setenv(name, value)
            localstack.start_kafka(layout, properties, credentials)
        yield SaslBroker(layout.kafka_bootstrap, password, env)
    finally:
        localstack.down({"OMNI_STACK_DIR": str(root)})
        assert localstack.running(layout, "kafka") is None
        assert _java_processes_under(root) == []


@pytest.fixture
def sasl_env(sasl_broker: SaslBroker, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The broker's client settings, in this process's environment for the test's duration."""
    for name, value in sasl_broker.env.items():
        monkeypatch.setenv(name, value)
    return sasl_broker.env


def _refusals(config: dict[str, str]) -> tuple[int, set[int]]:
    """The error of a metadata request, and the codes the client's error callback received."""
    errors: list[KafkaError] = []
    client = Producer({**config, "error_cb": errors.append, "log_level": 0})
    with pytest.raises(KafkaException) as refused:
        client.list_topics(timeout=3)
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        client.poll(0.2)
    return refused.value.args[0].code(), {error.code() for error in errors}


def test_a_client_without_credentials_is_refused(sasl_broker: SaslBroker) -> None:
    # A PLAINTEXT client: the broker closes the connection when a request comes instead of a
    # SASL handshake, so no broker is ever usable.
    code, reported = _refusals({"bootstrap.servers": sasl_broker.bootstrap})
    assert code == KafkaError._TRANSPORT
    assert KafkaError._ALL_BROKERS_DOWN in reported
    assert KafkaError._AUTHENTICATION not in reported


@pytest.mark.parametrize("user", ["omni", "nobody"])
def test_a_wrong_password_or_unknown_user_fails_authentication(
    sasl_env: dict[str, str], user: str
) -> None:
    config = client_config([sasl_env["KAFKA_BOOTSTRAP_SERVERS"]])
    config |= {"sasl.username": user, "sasl.password": "not-" + config["sasl.password"]}
    code, reported = _refusals(config)
    assert code == KafkaError._TRANSPORT
    assert KafkaError._AUTHENTICATION in reported


def test_flows_run_with_the_credentials_of_the_environment(
    sasl_broker: SaslBroker,
    sasl_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bootstrap = sasl_broker.bootstrap
    mirrored = "orders.web.mirror"
    outputs = [
        TOPICS.canonical_orders,
        TOPICS.canonical_movements,
        TOPICS.canonical_settlements,
        TOPICS.exceptions,
    ]
    # Admin, producer and, below, consumer and flows all take the SASL settings from the env.
    ensure_topics([bootstrap], [*TOPICS.inputs, *outputs, mirrored], partitions=2)
    scenario = generate(ScenarioSettings(seed=7, events=300, skus=20), load_reference())
    produce_to_kafka(scenario, bootstrap)

    # From here on the password comes from a mounted secret file, as on Kubernetes.
    secret = tmp_path / "kafka-password"
    secret.write_text(sasl_broker.password + "\n")
    monkeypatch.delenv("KAFKA_SASL_PASSWORD")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(secret))
    flow_env = {
        **{k: v for k, v in sasl_env.items() if k != "KAFKA_SASL_PASSWORD"},
        "KAFKA_SASL_PASSWORD_FILE": str(secret),
        **topic_env(TOPICS),
    }
    printed = run_flow("dataflows.normalization", {**flow_env, "NORMALIZE_TAIL": "false"})
    printed += run_flow(
        "dataflows.mirror",
        {
            **flow_env,
            "MIRROR_SOURCE_TOPIC": TOPICS.web_orders,
            "MIRROR_SINK_TOPIC": mirrored,
            "MIRROR_TAIL": "false",
        },
    )

    written = {topic: _read_all(bootstrap, topic) for topic in [*outputs, mirrored]}
    expected = scenario.manifest["expected_counts"]
    assert {topic: len(written[topic]) for topic in outputs} == {
        topic: expected.get(topic, 0) for topic in outputs
    }
    assert sum(len(written[topic]) for topic in outputs) == scenario.manifest["total_events"]
    assert Counter(written[mirrored]) == Counter(_read_all(bootstrap, TOPICS.web_orders))
    assert len(written[mirrored]) == len(scenario.records[TOPICS.web_orders]) > 0

    assert sasl_broker.password not in printed
    secret_bytes = sasl_broker.password.encode()
    assert [
        record for records in written.values() for record in records if secret_bytes in record
    ] == []


def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    """Every record of the topic (key, value and headers in one byte string), to its end."""
    consumer = Consumer(client_config([bootstrap]) | {"group.id": f"{topic}.check"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list[bytes] = []
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 30
        while remaining:
            assert time.monotonic() < deadline, f"{topic}: partitions {remaining} not read to end"
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                assert message.error() is None, message.error()
                headers = repr(message.headers()).encode()
                records.append((message.key() or b"") + (message.value() or b"") + headers)
                if (message.offset() or 0) + 1 >= ends[message.partition() or 0]:
                    remaining.discard(message.partition() or 0)
        return records
    finally:
        consumer.close()
