"""The workbench's pages and actions: who may do what, CSRF, the queue, and refusals that
change nothing.

The case store here is the real CaseBook behind an in-memory edge: what the Kafka-backed store
writes to the audit topic is kept in a list (`written`), applied as the store applies it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from omnichannel.contracts.common import Channel, SourceCoordinates
from omnichannel.contracts.exception_audit import AuditAction, ExceptionAudit
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.reference import load_reference
from omnichannel.settings import SettingError
from omnichannel.topics import Topics
from omnichannel.workbench.app import create_app
from omnichannel.workbench.auth import CSRF_COOKIE, SESSION_COOKIE
from omnichannel.workbench.cases import (
    Actor,
    Case,
    CaseBook,
    CaseFilter,
    CaseStatus,
    Resolution,
    Role,
)
from omnichannel.workbench.operations import Overview
from omnichannel.workbench.records import RecordIndex
from omnichannel.workbench.settings import WorkbenchSettings, parse_tokens
from omnichannel.workbench.store import RefusedAudit, ReplaySummary
from tests.unit import channel_examples

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
SECRET = "a-test-secret-long-enough-to-sign"
OPERATOR = {"Authorization": "Bearer op-token"}
VIEWER = {"Authorization": "Bearer view-token"}
TOPICS = Topics()
ANA = Actor("ana", ("finance-ops",), Role.OPERATOR)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class BookStore:
    """CaseStore's interface over a CaseBook, the audit topic being the `written` list."""

    book: CaseBook = field(default_factory=lambda: CaseBook(TOPICS))
    lock: threading.RLock = field(default_factory=threading.RLock)
    written: list[ExceptionAudit] = field(default_factory=list)
    is_ready: bool = True
    failure: str | None = None
    landed: int = 1000

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def ready(self) -> bool:
        return self.is_ready

    def act(
        self, actor: Actor, exception_id: str, action: AuditAction, **kw: Any
    ) -> ExceptionAudit:
        with self.lock:
            event = self.book.decide(actor, exception_id, action, now=NOW, **kw)
            self.written.append(event)
            self.book.apply(event)
            return event

    def replay(self, actor: Actor, exception_ids: list[str]) -> ReplaySummary:
        summary = ReplaySummary()
        with self.lock:
            for exception_id in exception_ids:
                case = self.book.check(actor, exception_id, AuditAction.REPLAY)
                self.landed += 1
                where = SourceCoordinates(
                    topic=case.exception.source.topic, partition=0, offset=self.landed
                )
                event = self.book.replay_event(actor, exception_id, where, NOW)
                self.written.append(event)
                self.book.apply(event)
                summary.sent.append(exception_id)
        return summary

    def refused_audit(self) -> list[RefusedAudit]:
        with self.lock:
            return [
                RefusedAudit(0, n, why, event) for n, (event, why) in enumerate(self.book.refused)
            ]


@dataclass
class IndexRecords:
    """SystemRecords' interface over a RecordIndex filled by the test."""

    index: RecordIndex = field(default_factory=lambda: RecordIndex(load_reference()))
    failure: str | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)


class NoMetrics:
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def latest(self) -> Overview | None:
        return None

    def history(self) -> list[Overview]:
        return []


def exception(
    offset: int,
    topic: str = TOPICS.pos_orders,
    reason: ExceptionReason = ExceptionReason.UNKNOWN_TAX_CODE,
    raw: bytes | None = None,
) -> ExceptionRecord:
    payload = (
        channel_examples.POS_SALE if topic == TOPICS.pos_orders else channel_examples.WEB_ORDER
    )
    return ExceptionRecord(
        exception_id=f"case-{topic}-{offset}",
        reason=reason,
        message="lines.0.tax_code: 'DE-99' is not mapped",
        raw_key=b"S-014:88121",
        raw_value=json.dumps(payload).encode() if raw is None else raw,
        source=SourceCoordinates(topic=topic, partition=0, offset=offset),
        step="normalize",
        detected_at=NOW - timedelta(minutes=offset + 1),
    )


def settings(**changes: Any) -> WorkbenchSettings:
    values: dict[str, Any] = {
        "tokens": parse_tokens("op-token=ana:operator,view-token=vic:viewer"),
        "secret": SECRET,
    }
    return WorkbenchSettings(**(values | changes))


@pytest.fixture
def store() -> BookStore:
    store = BookStore()
    store.book.add_exception(exception(1))
    store.book.add_exception(exception(2, TOPICS.web_orders, ExceptionReason.UNKNOWN_SKU))
    return store


@pytest.fixture
def records() -> IndexRecords:
    return IndexRecords()


@pytest.fixture
def client(store: BookStore, records: IndexRecords) -> Iterator[TestClient]:
    app = create_app(settings(), store, records, NoMetrics(), clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


def csrf_of(client: TestClient, path: str, headers: dict[str, str]) -> str:
    page = client.get(path, headers=headers)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def post(client: TestClient, path: str, headers: dict[str, str], **form: str) -> httpx.Response:
    return client.post(path, headers=headers, data=form, follow_redirects=False)


# Who may look and act.


def test_without_an_identity_every_page_and_action_is_401(client: TestClient) -> None:
    for path in ("/", "/cases/case-orders.pos-1", "/reconciliation", "/operations"):
        assert client.get(path).status_code == 401
    refused = post(client, "/cases/case-orders.pos-1/assign", {}, assignee="ana")
    assert refused.status_code == 401
    assert "Sign in" in refused.text
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_health_and_readiness_need_no_identity(client: TestClient, store: BookStore) -> None:
    assert client.get("/healthz").text == "ok"
    assert client.get("/readyz").json()["ready"] is True
    store.is_ready = False
    assert client.get("/readyz").status_code == 503
    store.is_ready, store.failure = True, "KafkaException: the broker went away"
    stopped = client.get("/readyz")
    assert stopped.status_code == 503
    assert "broker went away" in stopped.json()["failure"]


def test_proxy_headers_map_groups_to_roles_only_when_trusted(
    store: BookStore, records: IndexRecords
) -> None:
    trusted = create_app(
        settings(trust_proxy_headers=True), store, records, NoMetrics(), clock=lambda: NOW
    )
    with TestClient(trusted) as client:
        both = {"X-Forwarded-User": "olga", "X-Forwarded-Groups": "finance, finance-ops"}
        assert "olga</strong> (operator)" in client.get("/", headers=both).text
        viewer = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "support"}
        assert "sam</strong> (viewer)" in client.get("/", headers=viewer).text
        stranger = client.get("/", headers={"X-Forwarded-User": "eve", "X-Forwarded-Groups": "hr"})
        assert stranger.status_code == 403
        assert "eve is in none of the workbench's groups" in unescape(stranger.text)
    untrusted = create_app(settings(), store, records, NoMetrics(), clock=lambda: NOW)
    with TestClient(untrusted) as client:
        forged = {"X-Forwarded-User": "olga", "X-Forwarded-Groups": "finance-ops"}
        assert client.get("/", headers=forged).status_code == 401


def test_a_viewers_action_is_refused_and_writes_no_audit_event(
    client: TestClient, store: BookStore
) -> None:
    token = csrf_of(client, "/cases/case-orders.pos-1", VIEWER)
    refused = post(
        client, "/cases/case-orders.pos-1/assign", VIEWER, csrf_token=token, assignee="vic"
    )
    assert refused.status_code == 403
    assert "vic is a viewer" in refused.text
    assert "Nothing was changed" in refused.text
    bulk = post(client, "/cases/bulk-replay", VIEWER, csrf_token=token, scope="filter")
    assert bulk.status_code == 403
    assert store.written == []
    case = store.book.get("case-orders.pos-1")
    assert case is not None
    assert case.status is CaseStatus.OPEN


@pytest.mark.parametrize(
    "token", [None, "", "0" * 64, "forged"], ids=["missing", "empty", "tampered", "short"]
)
def test_an_action_without_its_csrf_token_is_refused(
    client: TestClient, store: BookStore, token: str | None
) -> None:
    csrf_of(client, "/", OPERATOR)
    form = {"assignee": "ana"} | ({} if token is None else {"csrf_token": token})
    refused = post(client, "/cases/case-orders.pos-1/assign", OPERATOR, **form)
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    assert store.written == []


def test_another_identitys_csrf_token_or_a_missing_cookie_is_refused(
    client: TestClient, store: BookStore
) -> None:
    viewers = csrf_of(client, "/", VIEWER)
    swapped = post(
        client, "/cases/case-orders.pos-1/assign", OPERATOR, csrf_token=viewers, assignee="ana"
    )
    assert swapped.status_code == 403
    token = csrf_of(client, "/", OPERATOR)
    client.cookies.delete(CSRF_COOKIE)
    cookieless = post(
        client, "/cases/case-orders.pos-1/assign", OPERATOR, csrf_token=token, assignee="ana"
    )
    assert cookieless.status_code == 403
    assert "cookie" in cookieless.text
    assert store.written == []


# The workflow.


def test_an_operator_assigns_discards_and_reopens_a_case(
    client: TestClient, store: BookStore
) -> None:
    token = csrf_of(client, "/cases/case-orders.pos-1", OPERATOR)
    path = "/cases/case-orders.pos-1"
    assigned = post(client, f"{path}/assign", OPERATOR, csrf_token=token, assignee="ben")
    assert assigned.status_code == 303
    assert assigned.headers["location"] == path
    case = store.book.get("case-orders.pos-1")
    assert case is not None
    assert (case.status, case.assignee) == (CaseStatus.IN_PROGRESS, "ben")

    discarded = post(
        client, f"{path}/discard", OPERATOR, csrf_token=token,
        reason="a training receipt", expected_status="in_progress",
    )  # fmt: skip
    assert discarded.status_code == 303
    assert (case.status, case.resolution) == (CaseStatus.RESOLVED, Resolution.DISCARDED)

    reopened = post(client, f"{path}/reopen", OPERATOR, csrf_token=token, reason="it was real")
    assert reopened.status_code == 303
    assert (case.status, case.resolution) == (CaseStatus.IN_PROGRESS, None)
    assert [(e.action, e.actor, e.role) for e in store.written] == [
        (AuditAction.ASSIGN, "ana", "operator"),
        (AuditAction.DISCARD, "ana", "operator"),
        (AuditAction.REOPEN, "ana", "operator"),
    ]
    page = client.get(path, headers=OPERATOR).text
    assert "a training receipt" in page
    assert "it was real" in page


def test_fixed_upstream_closes_the_case_with_what_was_fixed(
    client: TestClient, store: BookStore
) -> None:
    token = csrf_of(client, "/", OPERATOR)
    fixed = post(
        client, "/cases/case-orders.pos-1/fix-upstream", OPERATOR, csrf_token=token,
        reason="the till in S-014 was given the new tax table",
    )  # fmt: skip
    assert fixed.status_code == 303
    case = store.book.get("case-orders.pos-1")
    assert case is not None
    assert case.resolution is Resolution.FIXED_UPSTREAM


@pytest.mark.parametrize(
    ("action", "form", "status", "says"),
    [
        ("discard", {}, 400, "a reason is required to discard"),
        ("discard", {"reason": "   "}, 400, "a reason is required to discard"),
        ("fix-upstream", {}, 400, "a reason is required to fix upstream"),
        ("assign", {"assignee": ""}, 400, "say whom to assign"),
        ("assign", {"assignee": "ana", "expected_status": "limbo"}, 400, "expected_status"),
        ("teleport", {}, 400, "unknown action 'teleport'"),
        ("reopen", {"reason": "again"}, 409, "cannot reopen case case-orders.pos-1"),
        ("assign", {"assignee": "ana", "expected_status": "resolved"}, 409, "when you saw it"),
    ],
)
def test_a_bad_action_says_why_and_changes_nothing(
    client: TestClient, store: BookStore, action: str, form: dict[str, str], status: int, says: str
) -> None:
    token = csrf_of(client, "/", OPERATOR)
    refused = post(client, f"/cases/case-orders.pos-1/{action}", OPERATOR, csrf_token=token, **form)
    assert refused.status_code == status
    assert says in unescape(refused.text)
    assert "Nothing was changed" in refused.text
    assert store.written == []
    case = store.book.get("case-orders.pos-1")
    assert case is not None
    assert case.status is CaseStatus.OPEN


def test_an_unknown_case_is_404(client: TestClient, store: BookStore) -> None:
    assert client.get("/cases/no-such-case", headers=OPERATOR).status_code == 404
    token = csrf_of(client, "/", OPERATOR)
    missing = post(client, "/cases/no-such-case/assign", OPERATOR, csrf_token=token, assignee="a")
    assert missing.status_code == 404
    assert store.written == []


def test_a_case_page_shows_the_payload_the_reason_and_the_order(
    client: TestClient, store: BookStore
) -> None:
    store.book.add_exception(exception(3, raw=b"\x00\xffnot text"))
    page = client.get("/cases/case-orders.pos-1", headers=OPERATOR).text
    assert "Raw payload (json)" in page
    assert '"receipt_no"' in unescape(page)
    assert "tax code the ERP's tax table does not know" in unescape(page)
    assert "pos:" in page  # the correlation id the adapter would give
    assert "orders.pos</dd>" in page
    binary = client.get("/cases/case-orders.pos-3", headers=OPERATOR).text
    assert "Raw payload (hex)" in binary
    assert "00 ff 6e 6f" in binary


def test_a_replay_sends_the_case_and_shows_it_pending(client: TestClient, store: BookStore) -> None:
    token = csrf_of(client, "/", OPERATOR)
    sent = post(client, "/cases/case-orders.pos-1/replay", OPERATOR, csrf_token=token)
    assert sent.status_code == 303
    page = client.get("/cases/case-orders.pos-1", headers=OPERATOR).text
    assert 'data-status="replay_pending"' in page
    assert 'hx-trigger="every 3s"' in page


# The queue.


@pytest.fixture
def crowded(store: BookStore) -> BookStore:
    for offset in range(10, 130):
        topic = TOPICS.pos_orders if offset % 3 else TOPICS.web_orders
        reason = ExceptionReason.UNKNOWN_TAX_CODE if offset % 2 else ExceptionReason.UNKNOWN_SKU
        store.book.add_exception(exception(offset, topic, reason))
    return store


def every(book: CaseBook) -> list[Case]:
    return book.select(CaseFilter(), NOW)


def rows(page: httpx.Response) -> list[str]:
    return re.findall(r'name="case" value="([^"]+)"', page.text)


def test_the_queue_filters_by_reason_channel_status_and_age(
    client: TestClient, crowded: BookStore
) -> None:
    taxes = client.get("/?reason=unknown_tax_code&per_page=500", headers=OPERATOR)
    expected = [c.id for c in every(crowded.book) if c.reason == "unknown_tax_code"]
    assert sorted(rows(taxes)) == sorted(expected)
    assert f"{len(expected)} cases match" in taxes.text

    web_taxes = client.get("/?reason=unknown_tax_code&channel=web&per_page=500", headers=OPERATOR)
    assert all(case_id.startswith("case-orders.web") for case_id in rows(web_taxes))
    assert rows(web_taxes)

    old = client.get("/?age=1h&per_page=500", headers=OPERATOR)
    # Detected `offset + 1` minutes before now: 60 minutes or more from offset 59 on.
    assert sorted(rows(old)) == sorted(c.id for c in every(crowded.book)
                                       if int(c.id.rsplit("-", 1)[1]) >= 59)  # fmt: skip
    assert rows(client.get("/?status=resolved", headers=OPERATOR)) == []


def test_the_queue_counts_reasons_and_shows_the_oldest_open_case(
    client: TestClient, crowded: BookStore
) -> None:
    page = client.get("/?reason=unknown_sku", headers=OPERATOR).text
    # Counts per reason ignore the reason chosen, so the other reasons stay one click away.
    assert re.search(r"unknown_tax_code <strong>61</strong>", page)
    assert re.search(r"unknown_sku <strong>61</strong>", page)
    assert "<strong>2h 10m</strong> old" in page  # offset 129: detected 130 minutes ago


def test_the_queue_pages_newest_first(client: TestClient, crowded: BookStore) -> None:
    first = client.get("/", headers=OPERATOR)
    assert rows(first)[:2] == ["case-orders.pos-1", "case-orders.web-2"]
    assert len(rows(first)) == 50
    assert "page 1 of 3" in first.text
    third = client.get("/?page=3", headers=OPERATOR)
    assert len(rows(third)) == 22
    assert 'rel="next"' not in third.text
    everyone = {*rows(first), *rows(client.get("/?page=2", headers=OPERATOR)), *rows(third)}
    assert len(everyone) == 122
    filtered = client.get("/?reason=unknown_sku&page=2", headers=OPERATOR)
    assert 'href="/?reason=unknown_sku&amp;page=1"' in filtered.text


@pytest.mark.parametrize(
    "query", ["reason=unknown_mood", "channel=fax", "status=limbo", "age=3y", "page=0", "page=x"]
)
def test_a_bad_filter_is_400_naming_it(client: TestClient, query: str) -> None:
    refused = client.get(f"/?{query}", headers=OPERATOR)
    assert refused.status_code == 400
    assert query.split("=")[0] in refused.text


def test_bulk_replay_sends_the_filtered_selection_only(
    client: TestClient, crowded: BookStore
) -> None:
    token = csrf_of(client, "/", OPERATOR)
    replayed = post(
        client, "/cases/bulk-replay", OPERATOR, csrf_token=token, scope="filter",
        filter_reason="unknown_tax_code", filter_channel="web",
    )  # fmt: skip
    assert replayed.status_code == 200
    chosen = {
        c.id for c in every(crowded.book) if c.reason == "unknown_tax_code" and c.channel == "web"
    }
    assert {e.exception_id for e in crowded.written} == chosen
    assert all(e.action is AuditAction.REPLAY for e in crowded.written)
    assert f"Replay: {len(chosen)} sent" in replayed.text


def test_bulk_assign_and_replay_of_the_selected_cases(
    client: TestClient, crowded: BookStore
) -> None:
    token = csrf_of(client, "/", OPERATOR)
    picked = ["case-orders.pos-10", "case-orders.pos-11"]
    assigned = client.post(
        "/cases/bulk-assign",
        headers=OPERATOR,
        data={"csrf_token": token, "scope": "selected", "case": picked, "assignee": "ben"},
    )
    assert assigned.status_code == 200
    assert all(crowded.book.get(i).assignee == "ben" for i in picked)  # type: ignore[union-attr]
    nothing = post(client, "/cases/bulk-replay", OPERATOR, csrf_token=token, scope="selected")
    assert nothing.status_code == 400
    assert "no case was selected" in nothing.text


# Signing in with a token.


def test_the_login_form_sets_a_signed_session(client: TestClient) -> None:
    token = csrf_of(client, "/login", {})
    wrong = post(client, "/login", {}, csrf_token=token, token="guess")
    assert wrong.status_code == 401
    signed_in = post(client, "/login", {}, csrf_token=token, token="op-token", next="/settlements")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/settlements"
    assert "ana</strong> (operator)" in client.get("/").text
    session = client.cookies[SESSION_COOKIE]
    client.cookies.delete(SESSION_COOKIE)
    client.cookies.set(SESSION_COOKIE, session[:-1] + ("0" if session[-1] != "0" else "1"))
    assert client.get("/").status_code == 401


def test_the_login_never_redirects_off_site(client: TestClient) -> None:
    token = csrf_of(client, "/login", {})
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        answer = post(client, "/login", {}, csrf_token=token, token="op-token", next=target)
        assert answer.headers["location"] == "/"


# The finance pages.


def test_reconciliation_highlights_gaps_and_links_their_orders(
    client: TestClient, records: IndexRecords
) -> None:
    hour = datetime(2026, 11, 27, 9, tzinfo=UTC)
    records.index.add_summary(summary(hour, gaps=2))
    records.index.add_summary(summary(hour + timedelta(hours=1), gaps=0))
    page = client.get("/reconciliation", headers=VIEWER)
    assert page.status_code == 200
    assert page.text.count('class="gap"') == 1
    link = re.search(r'href="(/reconciliation/gap\?[^"]+)">2 gaps', page.text)
    assert link is not None
    orders = client.get(link.group(1).replace("&amp;", "&"), headers=VIEWER)
    assert orders.status_code == 200
    assert "Orders behind the gap: web · USD" in orders.text


def summary(hour: datetime, gaps: int) -> ReconciliationSummary:
    shipped = Decimal("120.00")
    return ReconciliationSummary(
        channel=Channel.WEB, currency="USD", window_start=hour,
        window_end=hour + timedelta(hours=1), ordered=shipped, shipped=shipped,
        invoiced=shipped - (Decimal("20.00") if gaps else 0), refunded=Decimal(0),
        credited=Decimal(0), orders=3, invoices=3 - gaps, credit_memos=0, gaps=gaps,
        revision=1, published_at=hour + timedelta(hours=1, minutes=5),
    )  # fmt: skip


def test_an_orders_page_lists_its_cases(client: TestClient, store: BookStore) -> None:
    case = store.book.get("case-orders.pos-1")
    assert case is not None
    assert case.correlation_id is not None
    page = client.get(f"/orders/{case.correlation_id}", headers=VIEWER)
    assert page.status_code == 200
    assert 'href="/cases/case-orders.pos-1"' in page.text
    assert "No canonical event of this order yet" in page.text


def test_settlements_and_operations_render_empty(client: TestClient) -> None:
    assert "No settlement report read yet" in client.get("/settlements", headers=VIEWER).text
    overview = client.get("/operations", headers=VIEWER)
    assert overview.status_code == 200
    assert "WORKBENCH_METRICS_URLS" in overview.text


def test_a_refused_audit_record_is_shown_on_the_overview(
    client: TestClient, store: BookStore
) -> None:
    assert "Audit records refused" not in client.get("/operations", headers=VIEWER).text
    reopen = store.book.decide(ANA, "case-orders.pos-1", AuditAction.ASSIGN, now=NOW)
    forged = reopen.model_copy(update={"audit_id": "forged", "action": AuditAction.REOPEN})
    store.book.fold(forged)  # a reopen of a case that is open: refused, nothing changed
    store.book.refuse(None, "not an ExceptionAudit: garbage")
    overview = client.get("/operations", headers=VIEWER).text
    assert "Audit records refused (2)" in overview
    assert "not an ExceptionAudit: garbage" in overview
    assert store.book.get("case-orders.pos-1").status is CaseStatus.OPEN  # type: ignore[union-attr]


def test_pages_carry_security_headers(client: TestClient) -> None:
    page = client.get("/", headers=VIEWER)
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert htmx.text.startswith("/*! htmx 2.0.4")  # vendored with its license


# Settings.


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WORKBENCH_PORT": "eighty"}, "WORKBENCH_PORT"),
        ({"WORKBENCH_PORT": "70000"}, "WORKBENCH_PORT"),
        ({"WORKBENCH_TRUST_PROXY_HEADERS": "maybe"}, "WORKBENCH_TRUST_PROXY_HEADERS"),
        ({"WORKBENCH_TRUST_PROXY_HEADERS": "true"}, "WORKBENCH_SECRET"),
        ({"WORKBENCH_SECRET": "short"}, "WORKBENCH_SECRET"),
        ({"WORKBENCH_TOKENS": "abc=ana:admin"}, "WORKBENCH_TOKENS"),
        ({"WORKBENCH_TOKENS": "abc"}, "WORKBENCH_TOKENS"),
        ({"WORKBENCH_TOKENS": "a=ana:operator,a=ben:viewer"}, "WORKBENCH_TOKENS"),
        ({"WORKBENCH_USER_HEADER": "X User"}, "WORKBENCH_USER_HEADER"),
        ({"WORKBENCH_METRICS_URLS": "localhost:9100"}, "WORKBENCH_METRICS_URLS"),
        ({"REFERENCE_DATA": "/nowhere/reference.toml"}, "REFERENCE_DATA"),
        ({"KAFKA_BOOTSTRAP_SERVERS": ""}, "KAFKA_BOOTSTRAP_SERVERS"),
    ],
)
def test_a_bad_setting_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingError, match=named):
        WorkbenchSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092"} | env)


def test_a_bad_token_setting_never_shows_the_token() -> None:
    with pytest.raises(SettingError) as raised:
        parse_tokens("s3cr3t-token=ana:root")
    assert "s3cr3t" not in str(raised.value)


def test_settings_from_the_environment() -> None:
    read = WorkbenchSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
            "WORKBENCH_PORT": "9000",
            "WORKBENCH_TRUST_PROXY_HEADERS": "true",
            "WORKBENCH_SECRET": SECRET,
            "WORKBENCH_OPERATOR_GROUPS": "ops, leads",
            "WORKBENCH_TOKENS": "t1=ana:operator",
            "TOPIC_EXCEPTIONS": "shop.exceptions",
        }
    )
    assert (read.port, read.trust_proxy_headers, read.secret) == (9000, True, SECRET)
    assert read.operator_groups == {"ops", "leads"}
    assert read.viewer_groups == {"finance", "support"}
    assert read.tokens["t1"].user == "ana"
    assert read.topics.exceptions == "shop.exceptions"
    assert read.kafka_brokers == ("127.0.0.1:19092",)
    # Without a secret set, each process signs with a random one of its own.
    assert WorkbenchSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k:9092"}).secret != (
        WorkbenchSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k:9092"}).secret
    )
