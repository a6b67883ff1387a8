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
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if urlparse(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        return value

    @property
    def kafka_brokers(self) -> list[str]:
        return [server.strip() for server in self.kafka_bootstrap_servers.split(",")]


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


def connections_from_env(env: Mapping[str, str] | None = None) -> Connections:
    """Read `KAFKA_BOOTSTRAP_SERVERS` and `REDIS_URL`; both must be set and well formed."""
    source = os.environ if env is None else env
    values = {
        "kafka_bootstrap_servers": env_str("KAFKA_BOOTSTRAP_SERVERS", source),
        "redis_url": env_str("REDIS_URL", source),
    }
    try:
        return Connections(**values)
    except ValueError as exc:
        raise SettingError(_name_settings(str(exc))) from None


def _name_settings(message: str) -> str:
    """Say the environment variable's name where pydantic says the field's."""
    return message.replace("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS").replace(
        "redis_url", "REDIS_URL"
    )
