"""Kafka security settings: from the environment to the librdkafka properties of every client."""

from pathlib import Path

import pytest

from omnichannel.kafka_settings import (
    PREFETCH_SETTING,
    client_config,
    producer_config,
    producer_overrides,
    source_config,
)
from omnichannel.settings import SettingError

BROKERS = ["k1:9093", "k2:9093"]
PASSWORD = "Pw-sEcReT-9f3a"
SASL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_USERNAME": "omni",
    "KAFKA_SASL_PASSWORD": PASSWORD,
}


def test_plaintext_is_the_default_and_adds_nothing_else() -> None:
    assert client_config(BROKERS, {}) == {
        "bootstrap.servers": "k1:9093,k2:9093",
        "security.protocol": "PLAINTEXT",
    }


def test_sasl_scram_over_tls_with_a_private_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        **SASL,
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SSL_CA_LOCATION": str(ca),
    }
    assert client_config(BROKERS, env) == {
        "bootstrap.servers": "k1:9093,k2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "omni",
        "sasl.password": PASSWORD,
        "ssl.ca.location": str(ca),
    }


def test_the_mechanism_defaults_to_scram_sha_512() -> None:
    assert client_config(BROKERS, SASL)["sasl.mechanism"] == "SCRAM-SHA-512"


def test_the_password_may_come_from_a_mounted_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    env = {k: v for k, v in SASL.items() if k != "KAFKA_SASL_PASSWORD"}
    env["KAFKA_SASL_PASSWORD_FILE"] = str(secret)
    assert client_config(BROKERS, env)["sasl.password"] == PASSWORD


def test_mutual_tls_takes_the_client_certificate_and_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("cert")
    key.write_text("key")
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CERTIFICATE_LOCATION": str(cert),
        "KAFKA_SSL_KEY_LOCATION": str(key),
    }
    config = client_config(BROKERS, env)
    assert config["ssl.certificate.location"] == str(cert)
    assert config["ssl.key.location"] == str(key)
    assert "sasl.password" not in config


def test_bytewax_producer_config_carries_the_security_settings_verbatim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SASL.items():
        monkeypatch.setenv(name, value)
    overrides = producer_overrides(BROKERS)
    # Booleans as librdkafka spells them, but the password's case untouched.
    assert overrides["enable.idempotence"] == "true"
    assert overrides["sasl.password"] == PASSWORD
    assert overrides["security.protocol"] == "SASL_PLAINTEXT"
    assert overrides["partitioner"] == "murmur2_random"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_TLS"}, "KAFKA_SECURITY_PROTOCOL must be one of"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM must be one of"),
        ({"KAFKA_SASL_USERNAME": ""}, "KAFKA_SASL_USERNAME is not set"),
        ({"KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_PASSWORD is not set"),
        ({"KAFKA_SASL_PASSWORD_FILE": "/run/secrets/kafka"}, "not both"),
        ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "KAFKA_SASL_USERNAME is set but"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_USERNAME": ""},
            "KAFKA_SASL_PASSWORD is set but KAFKA_SECURITY_PROTOCOL=SSL does not use SASL",
        ),
        ({"KAFKA_SSL_CA_LOCATION": "/etc/ca.pem"}, "KAFKA_SSL_CA_LOCATION is set but"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SSL_CA_LOCATION": "/nonexistent/ca"},
            "KAFKA_SSL_CA_LOCATION: no such file",
        ),
    ],
)
def test_a_bad_security_setting_is_named_and_the_password_is_not(
    change: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingError, match=named) as refused:
        client_config(BROKERS, {**SASL, **change})
    assert PASSWORD not in str(refused.value)
    assert PASSWORD not in repr(refused.value)


def test_an_unreadable_password_file_is_named_without_its_contents(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(PASSWORD.encode() + b"\xff")
    env = {k: v for k, v in SASL.items() if k != "KAFKA_SASL_PASSWORD"}
    for path, named in [(secret, "cannot read"), (tmp_path / "absent", "cannot read")]:
        env["KAFKA_SASL_PASSWORD_FILE"] = str(path)
        with pytest.raises(SettingError, match=f"KAFKA_SASL_PASSWORD_FILE: {named}") as refused:
            client_config(BROKERS, env)
        assert PASSWORD not in str(refused.value)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    env["KAFKA_SASL_PASSWORD_FILE"] = str(empty)
    with pytest.raises(SettingError, match="is empty"):
        client_config(BROKERS, env)


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("cert")
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTIFICATE_LOCATION": str(cert)}
    with pytest.raises(SettingError, match="KAFKA_SSL_KEY_LOCATION go together"):
        client_config(BROKERS, env)


def test_a_source_bounds_what_each_partition_consumer_prefetches() -> None:
    config = source_config(BROKERS, SASL)
    assert config["queued.max.messages.kbytes"] == "4096"
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert config["sasl.password"] == PASSWORD
    assert source_config(BROKERS, {PREFETCH_SETTING: "512"})["queued.max.messages.kbytes"] == "512"


@pytest.mark.parametrize("value", ["0", "-5", "lots", "3000000"])
def test_a_bad_prefetch_bound_is_named(value: str) -> None:
    with pytest.raises(SettingError, match=PREFETCH_SETTING):
        source_config(BROKERS, {PREFETCH_SETTING: value})


def test_a_source_stops_rather_than_jumps_when_its_offset_is_gone() -> None:
    assert source_config(BROKERS, {})["auto.offset.reset"] == "error"


def test_producers_never_expire_records_unless_asked_to() -> None:
    # The flows bound an outage themselves (KAFKA_OUTAGE_TIMEOUT_S); librdkafka must not.
    assert producer_config(BROKERS)["message.timeout.ms"] == 0
    assert producer_overrides(BROKERS)["message.timeout.ms"] == "0"
    # A transactional producer keeps its records within its transaction's timeout.
    assert producer_config(BROKERS, message_timeout_ms=60_000)["message.timeout.ms"] == 60_000
