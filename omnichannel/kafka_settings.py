"""Client settings every Kafka connection of the project shares.

Keys are partitioned with murmur2, as the Java producer does, so that a record keyed by a SKU
lands on the same partition whichever language produced it (librdkafka's own default, CRC32,
would not agree). Producers are idempotent and wait for all in-sync replicas, and never give
up on a record themselves: the flows bound how long they wait out an unreachable broker
(`omnichannel.broker_outage`). A flow's consumers stop rather than skip records when their
position is no longer on the broker (`auto.offset.reset=error`, `omnichannel.kafka_source`).

Every client, whatever it is, is built from `client_config`, so that the security settings
(SASL and TLS) read from the environment reach each connection the project opens. The dict it
returns holds the SASL password: it is handed to librdkafka and never logged or formatted into
a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from omnichannel.settings import SettingError, check_bootstrap_servers, env_int, env_str

PRODUCER_DEFAULTS: dict[str, str | int | bool] = {
    "partitioner": "murmur2_random",
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
}

# librdkafka fails a record not delivered within `message.timeout.ms` (default 5 minutes), so
# a longer outage would fail every record in hand. 0 is never. For an idempotent producer an
# expiry is worse than a wait (librdkafka's INTRODUCTION.md, "Message timeout considerations"):
# the records queued after the expired ones still go through once it bumps the epoch, leaving
# a gap, and a record that expired in flight may be on the log all the same. So records wait
# as long as the broker is away, and the one bound is the sink's (KAFKA_OUTAGE_TIMEOUT_S), which
# stops the process: its successor produces again from the last snapshot.
MESSAGE_TIMEOUT_MS = 0

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")
# Strimzi and Amazon MSK both issue SCRAM-SHA-512 credentials.
DEFAULT_SASL_MECHANISM = "SCRAM-SHA-512"

_SASL_SETTINGS = (
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
)
_TLS_FILES = {
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    "KAFKA_SSL_CERTIFICATE_LOCATION": "ssl.certificate.location",
    "KAFKA_SSL_KEY_LOCATION": "ssl.key.location",
}


def kafka_brokers_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """The brokers named by `KAFKA_BOOTSTRAP_SERVERS`, checked for form."""
    servers = env_str("KAFKA_BOOTSTRAP_SERVERS", os.environ if env is None else env)
    try:
        return check_bootstrap_servers(servers)
    except ValueError as exc:
        raise SettingError(f"KAFKA_BOOTSTRAP_SERVERS: {exc}") from None


def security_config(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The librdkafka security properties the `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_*` and
    `KAFKA_SSL_*` settings ask for; a SettingError naming the setting when they do not agree.

    PLAINTEXT (the default) adds nothing. A SASL protocol needs `KAFKA_SASL_USERNAME` and
    either `KAFKA_SASL_PASSWORD` or `KAFKA_SASL_PASSWORD_FILE` (a mounted secret). A setting
    that the chosen protocol would ignore is refused rather than ignored, so that credentials
    never silently go unused.
    """
    source = os.environ if env is None else env
    protocol = source.get("KAFKA_SECURITY_PROTOCOL", "").strip().upper() or "PLAINTEXT"
    if protocol not in SECURITY_PROTOCOLS:
        raise SettingError(
            f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(SECURITY_PROTOCOLS)}, "
            f"got {source['KAFKA_SECURITY_PROTOCOL']!r}"
        )
    config = {"security.protocol": protocol}
    if protocol.startswith("SASL_"):
        config |= _sasl_config(source)
    else:
        _refuse_unused(source, _SASL_SETTINGS, protocol, "SASL")
    if protocol.endswith("SSL"):
        config |= _tls_config(source)
    else:
        _refuse_unused(source, tuple(_TLS_FILES), protocol, "TLS")
    return config


def client_config(brokers: list[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The configuration every client (consumer, producer, admin) starts from."""
    return {"bootstrap.servers": ",".join(brokers), **security_config(env)}


# Prefetched records librdkafka may hold per partition consumer (Bytewax's source opens one per
# partition), in KiB. Its default, 64 MiB each, let a flow replaying a backlog of 20 partitions
# grow to most of a GiB before doing any work; a few MiB keep every fetch full.
PREFETCH_SETTING = "KAFKA_PREFETCH_KB_PER_PARTITION"
DEFAULT_PREFETCH_KB = 4096


def source_config(brokers: list[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The configuration of a flow's Kafka source: every client's, its prefetch bound, and an
    error, not a jump, when its position is no longer on the broker."""
    prefetch = env_int(PREFETCH_SETTING, DEFAULT_PREFETCH_KB, env)
    if not 1 <= prefetch <= 2_097_151:
        raise SettingError(f"{PREFETCH_SETTING} must be 1 to 2097151 (KiB), got {prefetch}")
    return {
        **client_config(brokers, env),
        "queued.max.messages.kbytes": str(prefetch),
        # librdkafka's default, latest, moves a resumed source whose offset retention deleted
        # to the end of the partition, skipping every record in between without a word.
        "auto.offset.reset": "error",
    }


def producer_config(
    brokers: list[str], message_timeout_ms: int = MESSAGE_TIMEOUT_MS
) -> dict[str, str | int | bool]:
    """A complete confluent-kafka producer configuration for these brokers.

    `message_timeout_ms`: how long librdkafka may hold a record it cannot deliver (0, the
    default: as long as it takes). A transactional producer passes its `transaction.timeout.ms`
    or less: librdkafka requires `message.timeout.ms <= transaction.timeout.ms`, and does not
    refuse 0 there, which would leave a record waiting after the broker aborted its
    transaction.
    """
    return {
        **client_config(brokers),
        **PRODUCER_DEFAULTS,
        "message.timeout.ms": message_timeout_ms,
    }


def producer_overrides(brokers: list[str]) -> dict[str, str]:
    """The producer configuration as strings, for Bytewax's `add_config`."""
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in producer_config(brokers).items()
    }


def _sasl_config(source: Mapping[str, str]) -> dict[str, str]:
    mechanism = source.get("KAFKA_SASL_MECHANISM", "").strip().upper() or DEFAULT_SASL_MECHANISM
    if mechanism not in SASL_MECHANISMS:
        raise SettingError(
            f"KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, "
            f"got {source['KAFKA_SASL_MECHANISM']!r}"
        )
    return {
        "sasl.mechanism": mechanism,
        "sasl.username": env_str("KAFKA_SASL_USERNAME", source),
        "sasl.password": _sasl_password(source),
    }


def _sasl_password(source: Mapping[str, str]) -> str:
    """The password from `KAFKA_SASL_PASSWORD` or the file `KAFKA_SASL_PASSWORD_FILE` names."""
    password = source.get("KAFKA_SASL_PASSWORD", "")
    path = source.get("KAFKA_SASL_PASSWORD_FILE", "").strip()
    if password and path:
        raise SettingError("set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
    if password:
        return password
    if not path:
        raise SettingError(
            "KAFKA_SASL_PASSWORD is not set (nor KAFKA_SASL_PASSWORD_FILE), "
            "and the security protocol uses SASL"
        )
    try:
        # A secret file written with a trailing newline (echo, an editor) means the line.
        password = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingError(
            f"KAFKA_SASL_PASSWORD_FILE: cannot read {path}: {type(exc).__name__}"
        ) from None
    if not password:
        raise SettingError(f"KAFKA_SASL_PASSWORD_FILE: {path} is empty")
    return password


def _tls_config(source: Mapping[str, str]) -> dict[str, str]:
    config: dict[str, str] = {}
    for setting, prop in _TLS_FILES.items():
        path = source.get(setting, "").strip()
        if not path:
            continue
        if not Path(path).is_file():
            raise SettingError(f"{setting}: no such file {path}")
        config[prop] = path
    if ("ssl.certificate.location" in config) != ("ssl.key.location" in config):
        raise SettingError(
            "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together: "
            "set both for a client certificate, or neither"
        )
    return config


def _refuse_unused(
    source: Mapping[str, str], settings: tuple[str, ...], protocol: str, feature: str
) -> None:
    for setting in settings:
        if source.get(setting, "").strip():
            raise SettingError(
                f"{setting} is set but KAFKA_SECURITY_PROTOCOL={protocol} does not use {feature}"
            )
