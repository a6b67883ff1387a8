import pytest

from omnichannel.settings import SettingError, connections_from_env, env_bool, env_int


def test_connections_read_from_the_environment() -> None:
    found = connections_from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092", "REDIS_URL": "redis://r:6379/0"}
    )
    assert found.kafka_brokers == ["k1:9092", "k2:9092"]
    assert found.redis_url == "redis://r:6379/0"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REDIS_URL": "redis://r:6379/0"}, "KAFKA_BOOTSTRAP_SERVERS is not set"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092"}, "REDIS_URL is not set"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k1", "REDIS_URL": "redis://r"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "REDIS_URL": "http://r"}, "REDIS_URL"),
    ],
)
def test_a_bad_connection_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingError, match=named):
        connections_from_env(env)


def test_typed_settings_name_themselves() -> None:
    assert env_int("OMNI_REDIS_PORT", 1, {}) == 1
    assert env_bool("MIRROR_TAIL", True, {"MIRROR_TAIL": "false"}) is False
    with pytest.raises(SettingError, match="OMNI_REDIS_PORT must be an integer, got 'six'"):
        env_int("OMNI_REDIS_PORT", 1, {"OMNI_REDIS_PORT": "six"})
    with pytest.raises(SettingError, match="MIRROR_TAIL must be true or false"):
        env_bool("MIRROR_TAIL", True, {"MIRROR_TAIL": "maybe"})
