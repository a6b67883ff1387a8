"""The workbench's web application: the queue, a case, reconciliation, settlements, operations.

Server-rendered pages (Jinja2) on Starlette, with htmx for the few partial refreshes (the
queue's filters, a pending replay's status, the operations tiles); every page works without
JavaScript. Every action is a POST form carrying a CSRF token, answered by a redirect to the
case (or a page of what a bulk action did); a refused action changes nothing and says why:
401 without an identity, 403 for a viewer or a bad CSRF token, 404 for an unknown case, 400
for a bad form value, 409 for a transition the case's status does not allow.

The state lives in the injected `store` (the cases, kept in step with the exception and audit
topics), `records` (what the system knows of orders, reconciliation, settlements) and
`operations` (the flows' metrics): `main` builds them from the settings, a test passes its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote

import uvicorn
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from omnichannel import logs
from omnichannel.contracts.exception_audit import AuditAction, ExceptionAudit
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.reference import load_reference
from omnichannel.workbench import forms
from omnichannel.workbench.auth import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Gatekeeper,
    Identity,
    NotAuthenticated,
    new_nonce,
)
from omnichannel.workbench.cases import (
    REASON_REQUIRED,
    WORKING,
    Case,
    CaseBook,
    TransitionError,
)
from omnichannel.workbench.explain import payload_view, reason_in_words
from omnichannel.workbench.operations import (
    MetricsWatch,
    Overview,
    sparkline_svg,
    trends,
)
from omnichannel.workbench.records import (
    AGE_BUCKETS,
    Backlog,
    OrderStory,
    SettlementView,
    SystemRecords,
)
from omnichannel.workbench.rendering import SecurityHeaders, template_environment
from omnichannel.workbench.settings import WorkbenchSettings
from omnichannel.workbench.store import AuditWriteError, CaseStore, RefusedAudit, ReplaySummary

logger = logging.getLogger(__name__)
# The single-case actions, by the path's last segment.
ACTIONS = {
    "assign": AuditAction.ASSIGN,
    "replay": AuditAction.REPLAY,
    "discard": AuditAction.DISCARD,
    "fix-upstream": AuditAction.FIX_UPSTREAM,
    "reopen": AuditAction.REOPEN,
}


class CaseKeeper(Protocol):
    """What the app needs of the case store (`omnichannel.workbench.store.CaseStore`)."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    @property
    def book(self) -> CaseBook: ...

    def start(self) -> None: ...

    def ready(self) -> bool: ...

    @property
    def failure(self) -> str | None: ...

    def stop(self) -> None: ...

    def act(
        self,
        actor: Any,
        exception_id: str,
        action: AuditAction,
        *,
        reason: str | None = None,
        assignee: str | None = None,
        expected_status: str | None = None,
    ) -> ExceptionAudit: ...

    def replay(self, actor: Any, exception_ids: list[str]) -> ReplaySummary: ...

    def refused_audit(self) -> list[RefusedAudit]: ...


class OrderRecords(Protocol):
    """What the app needs of the system's records (`omnichannel.workbench.records`)."""

    def start(self) -> None: ...

    def ready(self) -> bool: ...

    @property
    def failure(self) -> str | None: ...

    def stop(self) -> None: ...

    def order(self, correlation_id: str) -> OrderStory: ...

    def reconciliation(self) -> list[ReconciliationSummary]: ...

    def gap_orders(self, channel: str, currency: str, window_start: datetime) -> list[str]: ...

    def settlements(self) -> list[SettlementView]: ...

    def order_backlog(self, now: datetime) -> Backlog: ...


class OperationsFeed(Protocol):
    """What the app needs of the metrics watch (`omnichannel.workbench.operations`)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def latest(self) -> Overview | None: ...

    def history(self) -> list[Overview]: ...


class UnknownCase(LookupError):
    """No case of that id: 404."""


def create_app(
    settings: WorkbenchSettings,
    store: CaseKeeper,
    records: OrderRecords,
    operations: OperationsFeed,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Starlette:
    """The workbench on these components; its lifespan starts and stops them."""
    workbench = Workbench(settings, store, records, operations, clock)
    return Starlette(
        routes=workbench.routes(),
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers=workbench.error_handlers(),
        lifespan=workbench.lifespan,
    )


class Workbench:
    """The pages and actions, over the injected store, records and operations feed."""

    def __init__(
        self,
        settings: WorkbenchSettings,
        store: CaseKeeper,
        records: OrderRecords,
        operations: OperationsFeed,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.store = store
        self.records = records
        self.operations = operations
        self.clock = clock
        self.gate = Gatekeeper(settings)
        self.startup_failure: str | None = None
        self.templates = Jinja2Templates(env=template_environment())

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self.queue),
            Route("/cases/bulk-replay", self.bulk_replay, methods=["POST"]),
            Route("/cases/bulk-assign", self.bulk_assign, methods=["POST"]),
            Route("/cases/{case_id}", self.case),
            Route("/cases/{case_id}/{action}", self.act, methods=["POST"]),
            Route("/orders/{correlation_id:path}", self.order),
            Route("/reconciliation", self.reconciliation),
            Route("/reconciliation/gap", self.gap),
            Route("/settlements", self.settlements),
            Route("/operations", self.overview),
            Route("/healthz", self.healthz),
            Route("/readyz", self.readyz),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Mount(
                "/static",
                StaticFiles(packages=[("omnichannel.workbench", "static")]),
                name="static",
            ),
        ]

    def error_handlers(self) -> Mapping[Any, Callable[[Request, Exception], Any]]:
        return {
            NotAuthenticated: self._error_page(401, "Sign in first"),
            PermissionError: self._error_page(403, "Not allowed"),
            UnknownCase: self._error_page(404, "No such case"),
            forms.BadRequest: self._error_page(400, "That cannot be done as asked"),
            TransitionError: self._error_page(409, "The case does not allow that now"),
            AuditWriteError: self._error_page(503, "The audit topic did not take the action"),
            HTTPException: self._http_error,
        }

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        # Started in a thread: a component may read its topics before it returns, and the server
        # answers /healthz (and /readyz, 503) meanwhile.
        starting = threading.Thread(target=self._start, name="workbench-start", daemon=True)
        starting.start()
        try:
            yield
        finally:
            for component in (self.operations, self.records, self.store):
                component.stop()

    def _start(self) -> None:
        for name, component in (
            ("operations", self.operations),
            ("records", self.records),
            ("store", self.store),
        ):
            try:
                component.start()
            except Exception as exc:  # reported on /readyz and every page, not lost
                self.startup_failure = f"{name}: {type(exc).__name__}: {exc}"
                logger.exception("the workbench's %s did not start", name)

    # Pages.

    def queue(self, request: Request) -> Response:
        identity = self.identify(request)
        now = self.clock()
        chosen, case_filter = forms.parse_filter(request.query_params)
        number = forms.int_param(request.query_params, "page", 1, 1, 10**9)
        per_page = forms.int_param(
            request.query_params, "per_page", forms.PER_PAGE, 1, forms.MAX_PER_PAGE
        )
        with self.store.lock:
            book = self.store.book
            page = book.page(case_filter, now, number, per_page)
            counts = book.counts_by_reason(case_filter, now)
            oldest = book.oldest_open_age(now)
            replayable = forms.replayable_count(book, case_filter, page.total, now)
            return self.render(
                request,
                "queue.html",
                identity,
                page=page,
                counts=list(counts.items()),
                oldest_open_age=oldest,
                replayable=replayable,
                chosen=chosen,
                reasons=forms.REASONS,
                channels=forms.CHANNELS,
                statuses=forms.STATUSES,
                ages=list(forms.AGE_WORDS.items()),
                filter_url=forms.filter_url(chosen, per_page),
                now=now,
            )

    def case(self, request: Request) -> Response:
        identity = self.identify(request)
        case_id = request.path_params["case_id"]
        now = self.clock()
        with self.store.lock:
            case = self._case(case_id)
            correlation = case.correlation_id
            story = None if correlation is None else self.records.order(correlation)
            return self.render(
                request,
                "case.html",
                identity,
                case=case,
                payload=payload_view(case.exception.raw_value),
                reason_words=reason_in_words(case.reason),
                story=story,
                now=now,
            )

    def order(self, request: Request) -> Response:
        identity = self.identify(request)
        correlation = request.path_params["correlation_id"]
        with self.store.lock:
            cases = self.store.book.cases_of(correlation)
            return self.render(
                request,
                "order.html",
                identity,
                correlation_id=correlation,
                cases=cases,
                story=self.records.order(correlation),
            )

    def reconciliation(self, request: Request) -> Response:
        identity = self.identify(request)
        groups: dict[tuple[str, str], list[ReconciliationSummary]] = {}
        for summary in self.records.reconciliation():
            groups.setdefault((summary.channel.value, summary.currency), []).append(summary)
        return self.render(request, "reconciliation.html", identity, groups=sorted(groups.items()))

    def gap(self, request: Request) -> Response:
        identity = self.identify(request)
        params = request.query_params
        channel = params.get("channel", "")
        currency = params.get("currency", "")
        if not channel or not currency:
            raise forms.BadRequest("a gap is named by its channel, currency and hour")
        try:
            hour = datetime.fromisoformat(params.get("hour", ""))
        except ValueError:
            raise forms.BadRequest(
                f"hour must be an ISO-8601 time, got {params.get('hour', '')!r}"
            ) from None
        if hour.tzinfo is None:
            raise forms.BadRequest("hour must carry its timezone (the hours are in UTC)")
        orders = self.records.gap_orders(channel, currency, hour)
        summary = next(
            (
                s
                for s in self.records.reconciliation()
                if s.channel.value == channel and s.currency == currency and s.window_start == hour
            ),
            None,
        )
        with self.store.lock:
            by_order = {cid: self.store.book.cases_of(cid) for cid in orders}
            return self.render(
                request,
                "gap.html",
                identity,
                channel=channel,
                currency=currency,
                hour=hour,
                summary=summary,
                orders=list(by_order.items()),
            )

    def settlements(self, request: Request) -> Response:
        identity = self.identify(request)
        return self.render(
            request, "settlements.html", identity, settlements=self.records.settlements()
        )

    def overview(self, request: Request) -> Response:
        identity = self.identify(request)
        now = self.clock()
        with self.store.lock:
            oldest = self.store.book.oldest_open_age(now)
        charts = trends(self.operations.history())

        def spark(key: str) -> Markup:
            trend = charts.get(key)
            if trend is None or all(value is None for value in trend.values):
                return Markup("")
            label = f"{trend.title} ({trend.unit}), the last {len(trend.values)} scrapes"
            # sparkline_svg escapes the label and writes nothing else that is not a number.
            return Markup(sparkline_svg(trend.values, label=label))

        return self.render(
            request,
            "operations.html",
            identity,
            overview=self.operations.latest(),
            metrics_urls=self.settings.metrics_urls,
            backlog=self.records.order_backlog(now),
            buckets=AGE_BUCKETS,
            oldest_open_age=oldest,
            refused_audit=self.store.refused_audit(),
            spark=spark,
        )

    def healthz(self, _request: Request) -> Response:
        return PlainTextResponse("ok")

    def readyz(self, _request: Request) -> Response:
        parts = {"store": self.store.ready(), "records": self.records.ready()}
        failure = self.failure()
        ready = all(parts.values()) and failure is None
        body: dict[str, object] = {"ready": ready, **parts}
        if failure is not None:
            body["failure"] = failure
        return JSONResponse(body, status_code=200 if ready else 503)

    def failure(self) -> str | None:
        """Why a part of the workbench stopped (it no longer follows its topics), if one did."""
        for name, failure in (
            ("start", self.startup_failure),
            ("cases", self.store.failure),
            ("records", self.records.failure),
        ):
            if failure is not None:
                return f"{name}: {failure}"
        return None

    # Actions.

    async def act(self, request: Request) -> Response:
        identity = self.identify(request)
        form = await self.checked_form(request, identity)
        case_id = request.path_params["case_id"]
        action = ACTIONS.get(request.path_params["action"])
        if action is None:
            raise forms.BadRequest(
                f"unknown action {request.path_params['action']!r}: "
                f"expected one of {', '.join(ACTIONS)}"
            )
        self._may_act(identity)
        with self.store.lock:
            self._case(case_id)
        expected = forms.status_field(form)
        if action is AuditAction.REPLAY:
            return await self._replay_one(request, identity, case_id, expected)
        reason = forms.text_field(form, "reason", forms.MAX_REASON)
        assignee = forms.text_field(form, "assignee", forms.MAX_ASSIGNEE)
        if action is AuditAction.ASSIGN and assignee is None:
            raise forms.BadRequest("say whom to assign the case to")
        if action in REASON_REQUIRED and reason is None:
            raise forms.BadRequest(f"a reason is required to {action.value.replace('_', ' ')}")
        await run_in_threadpool(
            self.store.act,
            identity.actor,
            case_id,
            action,
            reason=reason,
            assignee=assignee if action is AuditAction.ASSIGN else None,
            expected_status=expected,
        )
        return RedirectResponse(f"/cases/{quote(case_id, safe='')}", status_code=303)

    async def _replay_one(
        self, request: Request, identity: Identity, case_id: str, expected: str | None
    ) -> Response:
        with self.store.lock:
            self.store.book.check(
                identity.actor, case_id, AuditAction.REPLAY, expected_status=expected
            )
        summary = await run_in_threadpool(self.store.replay, identity.actor, [case_id])
        if case_id in summary.refused:
            raise TransitionError(summary.refused[case_id])
        if case_id in summary.sent:
            return RedirectResponse(f"/cases/{quote(case_id, safe='')}", status_code=303)
        back = f"/cases/{quote(case_id, safe='')}"
        return self.render(request, "replay_result.html", identity, summary=summary, back=back)

    async def bulk_replay(self, request: Request) -> Response:
        identity = self.identify(request)
        form = await self.checked_form(request, identity)
        self._may_act(identity)
        chosen, case_filter = forms.bulk_filter(form)
        scope = form.get("scope")
        if scope == "filter":
            with self.store.lock:
                ids = [
                    case.id
                    for case in self.store.book.select(case_filter, self.clock())
                    if case.status in WORKING
                ]
        elif scope == "selected":
            ids = self._picked(form)
        else:
            raise forms.BadRequest(f"scope must be 'selected' or 'filter', got {scope!r}")
        summary = await run_in_threadpool(self.store.replay, identity.actor, ids)
        back = forms.filter_url(chosen, forms.PER_PAGE)()
        return self.render(request, "replay_result.html", identity, summary=summary, back=back)

    async def bulk_assign(self, request: Request) -> Response:
        identity = self.identify(request)
        form = await self.checked_form(request, identity)
        self._may_act(identity)
        assignee = forms.text_field(form, "assignee", forms.MAX_ASSIGNEE)
        if assignee is None:
            raise forms.BadRequest("say whom to assign the cases to")
        ids = self._picked(form)
        done: list[str] = []
        refused: dict[str, str] = {}
        for case_id in ids:
            try:
                await run_in_threadpool(
                    self.store.act, identity.actor, case_id, AuditAction.ASSIGN, assignee=assignee
                )
            except (TransitionError, AuditWriteError) as exc:
                refused[case_id] = str(exc)
            else:
                done.append(case_id)
        chosen, _ = forms.bulk_filter(form)
        return self.render(
            request,
            "bulk_result.html",
            identity,
            done=done,
            refused=refused,
            assignee=assignee,
            back=forms.filter_url(chosen, forms.PER_PAGE)(),
        )

    def _picked(self, form: FormData) -> list[str]:
        ids = [value for value in form.getlist("case") if isinstance(value, str) and value]
        if not ids:
            raise forms.BadRequest("no case was selected: tick the cases first")
        return list(dict.fromkeys(ids))

    # Signing in.

    def login_form(self, request: Request) -> Response:
        return self.render(
            request, "login.html", None, next=forms.local_path(request.query_params.get("next"))
        )

    async def login(self, request: Request) -> Response:
        form = await request.form()
        self.gate.check_csrf("", request.cookies.get(CSRF_COOKIE), forms.field(form, CSRF_FIELD))
        destination = forms.local_path(forms.field(form, "next"))
        cookie = self.gate.login(forms.field(form, "token") or "")
        if cookie is None:
            return self.render(
                request,
                "login.html",
                None,
                status_code=401,
                next=destination,
                message="That token is not one the workbench knows.",
            )
        response = RedirectResponse(destination, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        identity = self.identify(request)
        await self.checked_form(request, identity)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # The common parts.

    def identify(self, request: Request) -> Identity:
        return self.gate.identify(request)

    async def checked_form(self, request: Request, identity: Identity) -> FormData:
        """The POST's form, once its CSRF token is this identity's."""
        form = await request.form()
        self.gate.check_csrf(
            identity.actor.user, request.cookies.get(CSRF_COOKIE), forms.field(form, CSRF_FIELD)
        )
        return form

    def _may_act(self, identity: Identity) -> None:
        if not identity.actor.can_act:
            raise PermissionError(
                f"{identity.actor.user} is a {identity.actor.role}: a {identity.actor.role} may "
                "look at cases but not act on them. Nothing was changed; ask an operator"
            )

    def _case(self, case_id: str) -> Case:
        case = self.store.book.get(case_id)
        if case is None:
            raise UnknownCase(f"there is no case {case_id} (yet): the queue lists those there are")
        return case

    def render(
        self,
        request: Request,
        template: str,
        identity: Identity | None,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        """A page, with the identity, its CSRF token and the readiness banner; sets the CSRF
        nonce cookie on a browser that has none yet."""
        nonce = request.cookies.get(CSRF_COOKIE)
        fresh = nonce is None
        if nonce is None:
            nonce = new_nonce()
        user = identity.actor.user if identity else ""
        response = self.templates.TemplateResponse(
            request,
            template,
            {
                "identity": identity,
                "csrf_token": self.gate.csrf_token(user, nonce),
                "offers_login": self.gate.offers_login,
                "ready": self.store.ready(),
                "failure": self.failure(),
                **context,
            },
            status_code=status_code,
        )
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                nonce,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    def _error_page(
        self, status_code: int, heading: str
    ) -> Callable[[Request, Exception], Response]:
        def page(request: Request, exc: Exception) -> Response:
            if status_code >= 500 or status_code in (400, 409):
                logger.info("%s %s: %s %s", request.method, request.url.path, status_code, exc)
            headers = {"WWW-Authenticate": 'Bearer realm="workbench"'} if status_code == 401 else {}
            response = self.render(
                request,
                "error.html",
                self._identity_if_any(request),
                status_code=status_code,
                heading=heading,
                message=_message(exc),
                back=forms.local_path(request.headers.get("referer"), same_host=request.url.netloc),
            )
            response.headers.update(headers)
            return response

        return page

    def _identity_if_any(self, request: Request) -> Identity | None:
        """Who is asking, for an error page's header; None when that is what went wrong."""
        try:
            return self.gate.identify(request)
        except (NotAuthenticated, PermissionError):
            return None

    def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return self.render(
            request,
            "error.html",
            self._identity_if_any(request),
            status_code=exc.status_code,
            heading=HTTPStatus(exc.status_code).phrase,
            message=exc.detail,
            back="/",
        )


def _message(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text or type(exc).__name__


def main(port: int | None = None) -> int:
    """`omni workbench`: build the store, the records and the metrics watch from the
    environment, and serve the workbench until interrupted."""
    settings = WorkbenchSettings.from_env()
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    logs.configure_from_env("workbench")
    brokers = list(settings.kafka_brokers)
    store = CaseStore(
        brokers, settings.topics, settings.schema_registry_url, settings.reference_file
    )
    records = SystemRecords(
        brokers,
        settings.topics,
        settings.schema_registry_url,
        load_reference(settings.reference_file),
    )
    operations = MetricsWatch(list(settings.metrics_urls))
    app = create_app(settings, store, records, operations)
    logger.info("the workbench serves http://%s:%s/", settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)
    return 0
