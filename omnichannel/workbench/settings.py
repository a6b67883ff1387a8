"""The workbench's settings, read from the environment and checked at start-up.

Who may do what comes from here: which proxy headers are trusted, which groups make an operator
or a viewer, and the static tokens for local use. A bad value fails at once with the setting's
name, as the flows' settings do, rather than as a refused login later.

`WORKBENCH_TOKENS` is `token=user:role[,token=user:role...]` with role `operator` or `viewer`.
`WORKBENCH_SECRET` signs the session cookies and the CSRF tokens: required when the proxy
headers are trusted (several replicas must agree on it), a random one per process otherwise.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from omnichannel.kafka_settings import kafka_brokers_from_env
from omnichannel.settings import SettingError, env_bool, env_int, schema_registry_url_from_env
from omnichannel.topics import Topics
from omnichannel.workbench.cases import Role
from omnichannel.workbench.operations import check_metrics_url

# Shorter secrets are guessable enough to forge a CSRF token or a session.
MIN_SECRET_LENGTH = 16
GRANTABLE_ROLES = (Role.OPERATOR, Role.VIEWER)


class TokenGrant(BaseModel):
    """Who a static token stands for, and in which role."""

    model_config = ConfigDict(frozen=True)

    user: str
    role: Role


class WorkbenchSettings(BaseModel):
    """Everything the workbench needs to know before it serves a page."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 8088
    trust_proxy_headers: bool = False
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)
    operator_groups: frozenset[str] = frozenset({"finance-ops"})
    viewer_groups: frozenset[str] = frozenset({"finance", "support"})
    metrics_urls: tuple[str, ...] = ()
    secret: str = Field(default_factory=lambda: secrets.token_hex(32), repr=False)
    kafka_brokers: tuple[str, ...] = ()
    reference_file: Path | None = None
    schema_registry_url: str | None = None
    topics: Topics = Field(default_factory=Topics)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkbenchSettings:
        """The settings the environment gives; a SettingError naming the variable if one is
        malformed."""
        source = os.environ if env is None else env
        port = env_int("WORKBENCH_PORT", 8088, source)
        if not 0 <= port <= 65535:
            raise SettingError(f"WORKBENCH_PORT must be 0 to 65535, got {port}")
        trust = env_bool("WORKBENCH_TRUST_PROXY_HEADERS", False, source)
        reference = _text(source, "REFERENCE_DATA")
        if reference and not Path(reference).is_file():
            raise SettingError(f"REFERENCE_DATA: no such file {reference}")
        return cls(
            host=_text(source, "WORKBENCH_HOST") or "127.0.0.1",
            port=port,
            trust_proxy_headers=trust,
            user_header=_header_name(source, "WORKBENCH_USER_HEADER", "X-Forwarded-User"),
            groups_header=_header_name(source, "WORKBENCH_GROUPS_HEADER", "X-Forwarded-Groups"),
            tokens=parse_tokens(_text(source, "WORKBENCH_TOKENS")),
            operator_groups=_groups(source, "WORKBENCH_OPERATOR_GROUPS", "finance-ops"),
            viewer_groups=_groups(source, "WORKBENCH_VIEWER_GROUPS", "finance,support"),
            metrics_urls=_urls(source, "WORKBENCH_METRICS_URLS"),
            secret=_secret(source, trust),
            kafka_brokers=tuple(kafka_brokers_from_env(source)),
            reference_file=Path(reference) if reference else None,
            schema_registry_url=schema_registry_url_from_env(source),
            topics=Topics.from_env(source),
        )


def parse_tokens(raw: str) -> dict[str, TokenGrant]:
    """`token=user:role[,...]` as a mapping; a SettingError naming WORKBENCH_TOKENS (and never
    the token itself) on a malformed entry."""
    grants: dict[str, TokenGrant] = {}
    for position, entry in enumerate((e.strip() for e in raw.split(",") if e.strip()), 1):
        token, sep, grant = entry.partition("=")
        user, colon, role = grant.partition(":")
        if not sep or not token.strip() or not colon or not user.strip():
            raise SettingError(f"WORKBENCH_TOKENS: entry {position} must be token=user:role")
        if role.strip() not in GRANTABLE_ROLES:
            raise SettingError(
                f"WORKBENCH_TOKENS: entry {position} has role {role.strip()!r}; "
                f"expected {' or '.join(GRANTABLE_ROLES)}"
            )
        if token.strip() in grants:
            raise SettingError(f"WORKBENCH_TOKENS: entry {position} repeats a token")
        grants[token.strip()] = TokenGrant(user=user.strip(), role=Role(role.strip()))
    return grants


def _text(source: Mapping[str, str], name: str) -> str:
    return source.get(name, "").strip()


def _header_name(source: Mapping[str, str], name: str, default: str) -> str:
    value = _text(source, name) or default
    if not value.replace("-", "").replace("_", "").isalnum():
        raise SettingError(f"{name} must be an HTTP header name, got {value!r}")
    return value


def _groups(source: Mapping[str, str], name: str, default: str) -> frozenset[str]:
    raw = source.get(name)
    return frozenset(g.strip() for g in (default if raw is None else raw).split(",") if g.strip())


def _urls(source: Mapping[str, str], name: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in _text(source, name).split(",") if u.strip())
    for url in urls:
        try:
            check_metrics_url(url)
        except ValueError as exc:
            raise SettingError(f"{name}: {exc}") from None
    return urls


def _secret(source: Mapping[str, str], trust_proxy_headers: bool) -> str:
    secret = _text(source, "WORKBENCH_SECRET")
    if not secret:
        if trust_proxy_headers:
            raise SettingError(
                "WORKBENCH_SECRET is not set, and WORKBENCH_TRUST_PROXY_HEADERS=true needs it "
                "(every replica must sign CSRF tokens alike)"
            )
        return secrets.token_hex(32)
    if len(secret) < MIN_SECRET_LENGTH:
        raise SettingError(f"WORKBENCH_SECRET must be at least {MIN_SECRET_LENGTH} characters")
    return secret
