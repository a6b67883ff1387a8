"""Client settings every Kafka connection of the project shares.

Keys are partitioned with murmur2, as the Java producer does, so that a record keyed by a SKU
lands on the same partition whichever language produced it (librdkafka's own default, CRC32,
would not agree). Producers are idempotent and wait for all in-sync replicas.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from omnichannel.settings import SettingError, check_bootstrap_servers, env_str

PRODUCER_DEFAULTS: dict[str, str | int | bool] = {
    "partitioner": "murmur2_random",
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
}


def kafka_brokers_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """The brokers named by `KAFKA_BOOTSTRAP_SERVERS`, checked for form."""
    servers = env_str("KAFKA_BOOTSTRAP_SERVERS", os.environ if env is None else env)
    try:
        return check_bootstrap_servers(servers)
    except ValueError as exc:
        raise SettingError(f"KAFKA_BOOTSTRAP_SERVERS: {exc}") from None


def producer_config(brokers: list[str]) -> dict[str, str | int | bool]:
    """A complete confluent-kafka producer configuration for these brokers."""
    return {"bootstrap.servers": ",".join(brokers), **PRODUCER_DEFAULTS}


def producer_overrides() -> dict[str, str]:
    """The producer defaults as strings, for Bytewax's `add_config`."""
    return {key: str(value).lower() for key, value in PRODUCER_DEFAULTS.items()}
