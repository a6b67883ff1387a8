"""How the workbench's pages are rendered: the Jinja2 environment with the filters that put
ages, moments and money in people's terms, and the security headers on every response.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.workbench.operations import format_duration

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
]


class SecurityHeaders:
    """Adds the headers that keep the pages out of frames and scripts to our own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def template_environment() -> Environment:
    """The pages' Jinja2 environment: autoescaped, with the workbench's filters."""
    env = Environment(
        loader=PackageLoader("omnichannel.workbench", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = duration
    env.filters["when"] = when
    env.filters["money"] = money
    env.filters["debits"] = debits
    env.filters["seconds"] = format_duration
    env.filters["rate"] = rate
    env.tests["reconciled"] = reconciled
    return env


def duration(value: timedelta | None) -> str:
    """`3d 4h`, `2h 05m`, `12m`, `45s`: an age as people say it."""
    if value is None:
        return "-"
    seconds = max(0, int(value.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def when(value: datetime | None) -> str:
    """A moment in UTC, to the second."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def money(value: Decimal | None) -> str:
    """An amount with thousands separators, cents always, and any finer digits it has."""
    if value is None:
        return "-"
    if value == value.quantize(Decimal("0.01")):
        return f"{value:,.2f}"
    return f"{value.normalize():,f}"


def reconciled(summary: ReconciliationSummary) -> bool:
    """An hour whose shipments are all invoiced and refunds all credited, with no gap."""
    return (
        summary.gaps == 0
        and summary.shipped == summary.invoiced
        and summary.refunded == summary.credited
    )


def rate(value: float | None) -> str:
    """Records a second, to a tenth; `-` while unknown."""
    return "-" if value is None else f"{value:,.1f}"


def debits(entry: JournalEntry) -> Decimal:
    """What a journal entry moves: the sum of its debits (equal to its credits)."""
    return sum((line.debit for line in entry.lines), Decimal(0))
