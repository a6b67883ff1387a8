"""The exception workbench in headless Chromium, against the real broker and a generated day.

An operator signed in with a token filters the queue to unknown_tax_code, opens a case and
reads its raw payload, assigns it, fixes the reference data (the tax codes the exceptions
name), bulk-replays the filtered selection and, once normalization has run again with the
fixed reference data, sees every case resolved as replayed. A viewer's action is refused. The
audit topic holds each action with its identity, and a restarted workbench folds the same
statuses back out of the topics.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from omnichannel.codec import codec_for
from omnichannel.contracts.exception_audit import AuditAction, ExceptionAudit, ReplayOutcome
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.localstack import ensure_command
from omnichannel.reference import DEFAULT_REFERENCE_FILE, load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.faults import STALE_TAX_CODES
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka
from omnichannel.topics import Topics
from omnichannel.workbench.cases import CaseFilter, CaseStatus, Resolution
from omnichannel.workbench.store import CaseStore
from tests.browser.served import serve, until
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import fresh_topics, read_topic, run_flow, topic_env

pytestmark = pytest.mark.integration

DEFAULT = Topics()
TAX = ExceptionReason.UNKNOWN_TAX_CODE.value
# What the exception message names: `... 'DE-16' is not mapped`, `... tax 'NY State Tax' ...`.
NAMED_CODE = re.compile(r"'([^']+)' (?:is not mapped|has no rate)")
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Debian's Chromium (Playwright's own download is not reachable here): installed with
    # apt-get when root and absent, as the stack does for Redis; else a message naming it.
    chromium = ensure_command("chromium", "chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


def sign_in(browser: Browser, url: str, token: str, console: list[str] | None = None) -> Page:
    """A fresh browser signed in with the token; the page's console errors (a script the
    Content-Security-Policy refused, say) go to `console`."""
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    if console is not None:
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/login")
    page.get_by_label("Workbench token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    return page


def statuses(store: CaseStore) -> dict[str, tuple[str, str | None, str | None]]:
    """Each case's status, resolution and assignee, as the store folded them."""
    with store.lock:
        return {
            case.id: (case.status.value, case.resolution, case.assignee)
            for case in store.book.select(CaseFilter(), datetime.now(UTC))
        }


def fixed_reference(exceptions: list[ExceptionRecord], into: Path) -> list[str]:
    """The bundled reference data with every tax code the exceptions name added, each mapped
    as the code it replaced (a stale code as its successor, a renamed title as its state's)."""
    reference = load_reference()
    stale = {new: old for old, new in STALE_TAX_CODES.items()}
    named = sorted({m.group(1) for e in exceptions for m in NAMED_CODE.finditer(e.message)})
    assert named, "the exceptions name no tax code"
    entries = []
    for code in named:
        original = stale.get(code.removesuffix("-UNMAPPED"))
        if original is None and code.endswith(" State Tax"):
            original = f"US-{code.removesuffix(' State Tax').removesuffix('-UNMAPPED')}"
        assert original in reference.tax_codes, f"no known tax code stands behind {code!r}"
        known = reference.tax_codes[original]
        rate = "" if known.rate is None else f'rate = "{known.rate}"\n'
        entries.append(
            f'\n[tax_codes."{code}"]\nerp_code = "{known.erp_code}"\n'
            f'account = "{known.account}"\n{rate}'
        )
    into.write_text(DEFAULT_REFERENCE_FILE.read_text() + "".join(entries))
    load_reference(into)
    return named


def audit_events(bootstrap: str, topics: Topics) -> list[ExceptionAudit]:
    codec = codec_for(ExceptionAudit, None)
    return [codec.decode_model(r.value) for r in read_topic(bootstrap, topics.exceptions_audit)]


def reload_until(page: Page, condition: str, timeout_s: float, what: str) -> None:
    """Reload the page until the selector `condition` is on it."""

    def shown() -> bool:
        page.reload()
        return page.locator(condition).count() > 0

    until(shown, timeout_s, what)


@pytest.mark.timeout(900)
def test_an_operator_replays_the_tax_cases_after_fixing_the_reference_data(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path, browser: Browser
) -> None:
    scenario = generate(
        ScenarioSettings(seed=15, events=1_500, skus=60, faults={"unmapped_tax_code": 0.02}),
        load_reference(),
    )
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(DEFAULT.inputs, topics.inputs, strict=True))
    )
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "NORMALIZE_TAIL": "false",
        **topic_env(topics),
    }
    run_flow("dataflows.normalization", env)
    codec = codec_for(ExceptionRecord, None)
    exceptions = [
        codec.decode_model(r.value) for r in read_topic(kafka_bootstrap, topics.exceptions)
    ]
    taxes = [e for e in exceptions if e.reason is ExceptionReason.UNKNOWN_TAX_CODE]
    assert len(taxes) >= 3, "the day should carry a few unknown tax codes"
    assert len(exceptions) > len(taxes), "and other exceptions, for the filter to leave out"
    reference = tmp_path / "reference.toml"
    reference.write_text(DEFAULT_REFERENCE_FILE.read_text())

    with serve(kafka_bootstrap, topics, reference) as workbench:
        console: list[str] = []
        operator = sign_in(browser, workbench.url, "operator-token-ana", console)

        # The queue, filtered to the tax cases (the select submits through htmx).
        operator.get_by_label("Reason", exact=True).select_option(TAX)
        operator.wait_for_url(re.compile(r"reason=unknown_tax_code"))
        operator.get_by_role("heading", name=f"{len(taxes)} cases match").wait_for()
        reasons = operator.locator("table tbody tr td:nth-child(3)").all_inner_texts()
        assert reasons == [TAX] * len(taxes)

        # A case: its raw payload, its reason in words; then it is assigned.
        operator.locator("table tbody tr td:nth-child(2) a").first.click()
        operator.get_by_role("heading", name="Raw payload (json)").wait_for()
        case_id = unquote(operator.url.rsplit("/", 1)[1])
        case = next(e for e in taxes if e.exception_id == case_id)
        payload = operator.get_by_label("raw payload", exact=True).inner_text()
        assert NAMED_CODE.search(case.message).group(1) in payload  # type: ignore[union-attr]
        assert "tax table does not know" in operator.content()
        operator.get_by_label("Assign to", exact=True).fill("ana")
        operator.get_by_role("button", name="Assign").click()
        operator.locator('[data-status="in_progress"]').wait_for()

        # A viewer may look but not act: refused, and nothing is written.
        before = len(audit_events(kafka_bootstrap, topics))
        viewer = sign_in(browser, workbench.url, "viewer-token-vic")
        viewer.goto(f"{workbench.url}/cases/{quote(case_id, safe='')}")
        viewer.get_by_label("Why it needs no processing (required)").fill("not mine to decide")
        with viewer.expect_response(re.compile(r"/discard$")) as answer:
            viewer.get_by_role("button", name="Discard").click()
        assert answer.value.status == 403
        assert "vic is a viewer" in viewer.content()
        assert len(audit_events(kafka_bootstrap, topics)) == before

        # The fix: the codes the exceptions name, then a bulk replay of the filtered selection.
        fixed_reference(taxes, reference)
        operator.goto(f"{workbench.url}/?reason={TAX}")
        operator.get_by_role("button", name=re.compile("Replay every open case")).click()
        operator.get_by_role("heading", name=f"Replay: {len(taxes)} sent").wait_for()
        assert "still refuses" not in operator.content()

        run_flow("dataflows.normalization", env | {"REFERENCE_DATA": str(reference)})
        operator.goto(f"{workbench.url}/?reason={TAX}&status=resolved")
        reload_until(
            operator,
            f"h2:has-text('{len(taxes)} cases match')",
            120,
            "every replayed tax case resolved",
        )
        assert operator.locator("table tbody tr td:nth-child(7)").all_inner_texts() == [
            "resolved (replayed)"
        ] * len(taxes)
        operator.goto(f"{workbench.url}/cases/{quote(case_id, safe='')}")
        operator.locator('[data-resolution="replayed"]').wait_for()
        assert "became canonical" in operator.content()
        seen = statuses(workbench.store)
        assert console == []

    # The audit topic: each action with its identity; none by the viewer.
    events = audit_events(kafka_bootstrap, topics)
    assert [
        (e.exception_id, e.actor, e.role) for e in events if e.action is AuditAction.ASSIGN
    ] == [(case_id, "ana", "operator")]
    replays = [e for e in events if e.action is AuditAction.REPLAY]
    assert sorted(e.exception_id for e in replays) == sorted(e.exception_id for e in taxes)
    assert {(e.actor, e.role) for e in replays} == {("ana", "operator")}
    outcomes = [e for e in events if e.action is AuditAction.OUTCOME]
    assert {e.outcome for e in outcomes} == {ReplayOutcome.BECAME_CANONICAL}
    assert {(e.actor, e.role) for e in outcomes} == {("workbench", "system")}
    assert "vic" not in {e.actor for e in events}
    assert all(e.at.tzinfo is not None for e in events)

    # A restart: a new store and app on the same topics fold the same statuses back.
    with serve(kafka_bootstrap, topics, reference) as restarted:
        assert statuses(restarted.store) == seen
        page = sign_in(browser, restarted.url, "viewer-token-vic")
        page.goto(f"{restarted.url}/cases/{quote(case_id, safe='')}")
        page.locator('[data-resolution="replayed"]').wait_for()
        assert seen[case_id] == (CaseStatus.RESOLVED.value, Resolution.REPLAYED, "ana")
