"""Where the services are: connection settings read from the environment, checked at start-up.

Every setting has a name a platform team can grep for; a bad value fails at once with that name
in the message instead of surfacing later as a connection timeout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, field_validator


class SettingError(ValueError):
    """A configuration value is missing or malformed; the message names the setting."""


class Connections(BaseModel):
    """Addresses of the Kafka cluster and the Redis server the flows talk to."""

    model_config = ConfigDict(frozen=True)

    kafka_bootstrap_servers: str
    redis_url: str

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        check_bootstrap_servers(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        return check_redis_url(value)

    @property
    def kafka_brokers(self) -> list[str]:
        return check_bootstrap_servers(self.kafka_bootstrap_servers)


def check_bootstrap_servers(value: str) -> list[str]:
    """The brokers of a `host:port[,host:port...]` list; ValueError when it is not one."""
    brokers = [server.strip() for server in value.split(",")]
    for server in brokers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port[,host:port...], got {value!r}")
    return brokers


def check_redis_url(value: str) -> str:
    """A Redis URL; ValueError when its scheme is not Redis's."""
    if urlparse(value).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
    return value


def env_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """Read an integer setting, failing with the setting's name when it is not one."""
    raw = (os.environ if env is None else env).get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingError(f"{name} must be an integer, got {raw!r}") from None


def env_bool(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    """Read a true/false setting, failing with the setting's name on anything else."""
    raw = (os.environ if env is None else env).get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name} must be true or false, got {raw!r}")


def env_str(name: str, env: Mapping[str, str] | None = None) -> str:
    """Read a required text setting, failing with the setting's name when it is absent."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        raise SettingError(f"{name} is not set")
    return raw


def schema_registry_url_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """`SCHEMA_REGISTRY_URL`, or None (Avro single-object encoding) when it is not set."""
    return (os.environ if env is None else env).get("SCHEMA_REGISTRY_URL", "").strip() or None


def redis_url_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """`REDIS_URL` checked for form, or None when it is not set."""
    raw = (os.environ if env is None else env).get("REDIS_URL", "").strip()
    if not raw:
        return None
    try:
        return check_redis_url(raw)
    except ValueError as exc:
        raise SettingError(f"REDIS_URL: {exc}") from None
