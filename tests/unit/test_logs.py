"""The log formatters: one JSON object a line, correlation ids, no secrets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from omnichannel.logs import JsonFormatter, Redactor, TextFormatter, configure_from_env, secrets_in
from omnichannel.settings import SettingError


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("omnichannel.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    made.created = 1795720000.25
    return made


def test_a_json_line_has_time_level_logger_message_flow_and_the_ids_given() -> None:
    line = JsonFormatter("finance").format(
        record("%s: %d postings", "erp.postings[2]", 3, step="finance.produce", partition=2)
    )
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-11-26T19:06:40.250Z",
        "level": "WARNING",
        "logger": "omnichannel.test",
        "message": "erp.postings[2]: 3 postings",
        "flow": "finance",
        "step": "finance.produce",
        "partition": 2,
    }
    assert datetime.fromisoformat(json.loads(line)["time"]).utcoffset() is not None


def test_ids_of_the_event_and_the_posting_are_kept_and_others_are_not() -> None:
    entry = json.loads(
        JsonFormatter().format(
            record("x", event_id="web:1", order_id="1", idempotency_key="invoice:web:1:9", a=1)
        )
    )
    assert entry["event_id"] == "web:1"
    assert entry["order_id"] == "1"
    assert entry["idempotency_key"] == "invoice:web:1:9"
    assert "a" not in entry
    assert "flow" not in entry


def test_an_exception_stays_inside_its_json_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        failed = record("adapter failed")
        failed.exc_info = sys.exc_info()
    line = JsonFormatter("normalization").format(failed)
    assert len(line.splitlines()) == 1
    assert "ValueError: bad\nthing" in json.loads(line)["exception"]


def test_secrets_are_masked_wherever_they_appear(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("from-the-file\n")
    env = {
        "KAFKA_SASL_PASSWORD": "s3cr3t-sasl",
        "KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "REDIS_URL": "redis://app:redis-pw@cache:6379/0",
    }
    redact = Redactor(secrets_in(env))
    message = "config {'sasl.password': 's3cr3t-sasl'} file from-the-file, url %s, other %s"
    made = record(
        message, env["REDIS_URL"], "https://u:pw-in-url@registry:8081", topic="s3cr3t-sasl"
    )
    for formatter in (JsonFormatter("f", redact), TextFormatter("f", redact)):
        line = formatter.format(made)
        for secret in ("s3cr3t-sasl", "from-the-file", "redis-pw", "pw-in-url"):
            assert secret not in line, (formatter, line)
        assert "redis://app:***@cache:6379/0" in line
    assert secrets_in({"KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing")}) == []


def test_the_text_format_reads_as_a_line_with_its_ids() -> None:
    line = TextFormatter("availability").format(record("held %d keys", 4, step="read_model"))
    assert line == (
        "2026-11-26T19:06:40.250+00:00 WARNING omnichannel.test: held 4 keys "
        "[flow=availability step=read_model]"
    )


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_installs_one_handler_of_the_format_and_level_asked(
    root_logger: logging.Logger,
) -> None:
    configure_from_env("finance", {"LOG_FORMAT": "json", "LOG_LEVEL": "debug"})
    configure_from_env("finance", {"LOG_FORMAT": "JSON", "LOG_LEVEL": "warning"})
    own = [h for h in root_logger.handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(own) == 1
    assert root_logger.level == logging.WARNING
    configure_from_env(None, {})
    assert [h for h in root_logger.handlers if isinstance(h.formatter, JsonFormatter)] == []
    assert root_logger.level == logging.INFO


@pytest.mark.parametrize(
    ("env", "setting"),
    [({"LOG_FORMAT": "xml"}, "LOG_FORMAT"), ({"LOG_LEVEL": "loud"}, "LOG_LEVEL")],
)
def test_a_bad_setting_is_named(
    root_logger: logging.Logger, env: dict[str, str], setting: str
) -> None:
    with pytest.raises(SettingError, match=setting):
        configure_from_env("finance", env)
