"""Log lines for people and for log pipelines: JSON objects on stderr, one a line.

`configure_from_env(flow)` sets the root logger up when a flow starts: `LOG_FORMAT=json|text`
(default text; `omni run` makes it json) and `LOG_LEVEL` (default INFO). A JSON line has
`time` (UTC, ISO-8601), `level`, `logger`, `message`, `flow`, and the correlation ids the call
passed in `extra` (`step`, `worker`, `event_id`, `order_id`, `idempotency_key`, `topic`,
`partition`, `offset`), then `exception` with the traceback, if any.

Secrets are masked in every line whoever logged them: the values of the settings that hold
one (the SASL password, its file's content, a password in REDIS_URL or SCHEMA_REGISTRY_URL),
and any `scheme://user:password@` in a message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from omnichannel.settings import SettingError

CORRELATION_IDS = (
    "flow",
    "step",
    "worker",
    "event_id",
    "order_id",
    "idempotency_key",
    "topic",
    "partition",
    "offset",
)
FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MASK = "***"
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


class Redactor:
    """Masks the given secrets, and the password of any URL, in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _URL_CREDENTIALS.sub(rf"\1{MASK}@", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the flow and the correlation ids the record carries."""

    def __init__(self, flow: str | None = None, redact: Redactor | None = None) -> None:
        super().__init__()
        self._flow = flow
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, object] = {
            "time": when.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        if self._flow is not None:
            entry["flow"] = self._flow
        fields = record.__dict__
        for name in CORRELATION_IDS:
            value = fields.get(name)
            if value is not None:
                entry[name] = value if isinstance(value, int) else self._redact(str(value))
        if record.exc_info:
            entry["exception"] = self._redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger: message [ids]`, for a terminal; secrets masked as in JSON."""

    def __init__(self, flow: str | None = None, redact: Redactor | None = None) -> None:
        super().__init__()
        self._flow = flow
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        fields = {"flow": self._flow} | record.__dict__
        ids = " ".join(
            f"{name}={fields[name]}" for name in CORRELATION_IDS if fields.get(name) is not None
        )
        line = f"{when} {record.levelname} {record.name}: {record.getMessage()}"
        if ids:
            line += f" [{ids}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._redact(line)


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """The secret values the settings hold, to be masked wherever they appear."""
    secrets = [env.get("KAFKA_SASL_PASSWORD", "")]
    password_file = env.get("KAFKA_SASL_PASSWORD_FILE", "").strip()
    if password_file:
        # An unreadable file is reported by the Kafka settings, under its setting's name.
        with suppress(OSError):
            secrets.append(Path(password_file).read_text().strip())
    for name in ("REDIS_URL", "SCHEMA_REGISTRY_URL"):
        with suppress(ValueError):  # a malformed URL is reported by its own setting
            secrets.append(urlsplit(env.get(name, "")).password or "")
    return [secret for secret in secrets if secret]


def configure_from_env(flow: str | None, env: Mapping[str, str] | None = None) -> None:
    """Send the process's log records to stderr as `LOG_FORMAT` and `LOG_LEVEL` say."""
    source = os.environ if env is None else env
    style = source.get("LOG_FORMAT", "").strip().lower() or "text"
    if style not in FORMATS:
        raise SettingError(f"LOG_FORMAT must be json or text, got {source['LOG_FORMAT']!r}")
    level = source.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LEVELS:
        raise SettingError(
            f"LOG_LEVEL must be one of {', '.join(LEVELS)}, got {source['LOG_LEVEL']!r}"
        )
    redact = Redactor(secrets_in(source))
    handler = _OwnHandler(sys.stderr)
    formatter_class = JsonFormatter if style == "json" else TextFormatter
    handler.setFormatter(formatter_class(flow, redact))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _OwnHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)


class _OwnHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_from_env` installed, so that a second call replaces it."""
