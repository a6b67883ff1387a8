"""The workbench's request values: the queue's filter from a query string, and form fields,
each checked, a bad one refused (400) with what was wrong.

The same filter comes as a query (`/?reason=unknown_tax_code&channel=web`) and, prefixed
`filter_`, in the bulk forms, so that a bulk action takes exactly the selection on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from urllib.parse import urlencode

from starlette.datastructures import FormData

from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.workbench.cases import WORKING, CaseBook, CaseFilter, CaseStatus
from omnichannel.workbench.explain import UNKNOWN_CHANNEL

REASONS = tuple(reason.value for reason in ExceptionReason)
STATUSES = tuple(status.value for status in CaseStatus)
CHANNELS = ("web", "pos", "marketplace", "warehouse", UNKNOWN_CHANNEL)
AGES = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
AGE_WORDS = {"1h": "older than 1 hour", "4h": "older than 4 hours", "24h": "older than a day",
             "7d": "older than a week"}  # fmt: skip
PER_PAGE = 50
MAX_PER_PAGE = 500
# Longer text is not a reason but a paste; the audit topic keeps what people wrote.
MAX_REASON = 2000
MAX_ASSIGNEE = 200


class BadRequest(ValueError):
    """A form or query value the workbench cannot take: 400, with what was wrong."""


def parse_filter(params: Mapping[str, str]) -> tuple[dict[str, str], CaseFilter]:
    """The queue's filter from query (or form) values; BadRequest naming a bad one. Returns
    the values as chosen (to render the form again) and the filter."""
    chosen = {name: params.get(name, "").strip() for name in ("reason", "channel", "status",
              "age", "assignee")}  # fmt: skip
    reason = chosen["reason"]
    if reason and reason not in REASONS:
        raise BadRequest(f"reason {reason!r} is not one the flows give")
    channel = chosen["channel"]
    if channel and channel not in CHANNELS:
        raise BadRequest(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
    status = chosen["status"]
    if status and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    age = chosen["age"]
    if age and age not in AGES:
        raise BadRequest(f"age must be one of {', '.join(AGES)}, got {age!r}")
    return chosen, CaseFilter(
        reason=ExceptionReason(reason) if reason else None,
        channel=channel or None,
        status=CaseStatus(status) if status else None,
        older_than=AGES[age] if age else None,
        assignee=chosen["assignee"] or None,
    )


def bulk_filter(form: FormData) -> tuple[dict[str, str], CaseFilter]:
    """The queue's filter a bulk form carries, as `filter_reason`, `filter_channel`, ..."""
    prefix = "filter_"
    return parse_filter(
        {
            name.removeprefix(prefix): value
            for name, value in form.items()
            if name.startswith(prefix) and isinstance(value, str)
        }
    )


def replayable_count(book: CaseBook, case_filter: CaseFilter, total: int, now: datetime) -> int:
    """How many of the filter's cases a bulk replay would take (open or in progress); no
    second scan of the book when the filter names the status."""
    if case_filter.status is not None:
        return total if case_filter.status in WORKING else 0
    return sum(1 for case in book.select(case_filter, now) if case.status in WORKING)


def filter_url(chosen: dict[str, str], per_page: int) -> Callable[..., str]:
    """`filter_url(page=2)`, `filter_url(reason=...)`: the queue's URL with one thing changed."""

    def url(**changes: object) -> str:
        values: dict[str, object] = {**chosen, **changes}
        if "reason" in changes:
            values.pop("page", None)
        if per_page != PER_PAGE:
            values["per_page"] = per_page
        query = urlencode(
            {name: value for name, value in values.items() if value not in ("", None)}
        )
        return f"/?{query}" if query else "/"

    return url


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high`, `default` when absent; BadRequest naming it."""
    raw = params.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def field(form: FormData, name: str) -> str | None:
    """A text field of the form (None when absent, or an uploaded file)."""
    value = form.get(name)
    return value if isinstance(value, str) else None


def text_field(form: FormData, name: str, limit: int) -> str | None:
    """A text field without surrounding blanks, None when empty; BadRequest when too long."""
    value = (field(form, name) or "").strip()
    if len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")
    return value or None


def status_field(form: FormData) -> str | None:
    """The case status the person saw (`expected_status`), if the form says; checked."""
    status = (field(form, "expected_status") or "").strip()
    if status and status not in STATUSES:
        raise BadRequest(f"expected_status must be one of {', '.join(STATUSES)}, got {status!r}")
    return status or None


def local_path(raw: str | None, same_host: str | None = None) -> str:
    """A path on this site to go back to; `/` for anything else (an open redirect otherwise)."""
    if not raw:
        return "/"
    if same_host is not None:
        prefix = f"//{same_host}"
        position = raw.find(prefix)
        if position < 0 or raw[:position] not in ("http:", "https:"):
            return "/"
        raw = raw[position + len(prefix) :] or "/"
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw
