import pytest

from omnichannel.kafka_settings import kafka_brokers_from_env
from omnichannel.settings import SettingError, env_bool, env_int, redis_url_from_env


def test_connection_settings_read_from_the_environment() -> None:
    assert kafka_brokers_from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092, k2:9092"}) == [
        "k1:9092",
        "k2:9092",
    ]
    assert redis_url_from_env({"REDIS_URL": "redis://r:6379/0"}) == "redis://r:6379/0"
    assert redis_url_from_env({}) is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "KAFKA_BOOTSTRAP_SERVERS is not set"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k1"}, "KAFKA_BOOTSTRAP_SERVERS: expected host:port"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,:1"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ],
)
def test_a_bad_kafka_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingError, match=named):
        kafka_brokers_from_env(env)


def test_a_bad_redis_url_is_named() -> None:
    with pytest.raises(SettingError, match="REDIS_URL: expected a redis://"):
        redis_url_from_env({"REDIS_URL": "http://r"})


def test_typed_settings_name_themselves() -> None:
    assert env_int("OMNI_REDIS_PORT", 1, {}) == 1
    assert env_bool("MIRROR_TAIL", True, {"MIRROR_TAIL": "false"}) is False
    with pytest.raises(SettingError, match="OMNI_REDIS_PORT must be an integer, got 'six'"):
        env_int("OMNI_REDIS_PORT", 1, {"OMNI_REDIS_PORT": "six"})
    with pytest.raises(SettingError, match="MIRROR_TAIL must be true or false"):
        env_bool("MIRROR_TAIL", True, {"MIRROR_TAIL": "maybe"})
