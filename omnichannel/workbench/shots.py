"""Screenshots of a running workbench, for the README: the queue, a case, reconciliation and
the operations overview.

    python -m omnichannel.workbench.shots --url http://127.0.0.1:8088 --out out/workbench

`--wait 180` first waits (up to 180 s) for the workbench to be ready, for a script that has
just started it.

Drives headless Chromium (Debian's, at /usr/bin/chromium; Playwright's own download is not
needed) through the pages as a person would: it signs in with a token of WORKBENCH_TOKENS
(`--token`, else `WORKBENCH_SHOTS_TOKEN`, else the first token of `WORKBENCH_TOKENS`), and
opens an unknown_tax_code case when the queue has one, the newest case otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = ViewportSize(width=1360, height=900)
WAIT_MS = 30_000


def take_shots(url: str, out: Path, token: str | None, chromium: str = CHROMIUM) -> list[Path]:
    """Screenshot each page into `out`; the PNGs written, in order."""
    out.mkdir(parents=True, exist_ok=True)
    base = url.rstrip("/")
    written: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(WAIT_MS)
            if token:
                sign_in(page, base, token)

            def shot(name: str, path: str) -> None:
                page.goto(f"{base}{path}")
                page.wait_for_load_state("networkidle")
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)

            shot("queue", "/")
            shot("case", case_path(page, base))
            shot("reconciliation", "/reconciliation")
            shot("operations", "/operations")
        finally:
            browser.close()
    return written


def wait_ready(url: str, timeout_s: float) -> None:
    """Wait until the workbench's /readyz answers 200 (its state rebuilt); SystemExit at the
    deadline, saying what it answered last."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read().decode(errors='replace')[:200]}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise SystemExit(f"{url}: not ready within {timeout_s:.0f}s ({last})")


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Workbench token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def case_path(page: Page, base: str) -> str:
    """The path of an unknown_tax_code case if the queue has one, else of its newest case."""
    for query in ("/?reason=unknown_tax_code", "/"):
        page.goto(f"{base}{query}")
        link = page.locator("table tbody tr td:nth-child(2) a").first
        if link.count():
            href = link.get_attribute("href")
            if href:
                return href
    raise SystemExit(f"{base}: the queue has no case to show")


def default_token() -> str | None:
    explicit = os.environ.get("WORKBENCH_SHOTS_TOKEN", "").strip()
    if explicit:
        return explicit
    first = os.environ.get("WORKBENCH_TOKENS", "").split(",")[0]
    token = first.partition("=")[0].strip()
    return token or None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8088", help="the workbench")
    parser.add_argument("--out", type=Path, default=Path("out/workbench"))
    parser.add_argument("--token", help="a token of WORKBENCH_TOKENS to sign in with")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium binary")
    parser.add_argument(
        "--wait", type=float, default=0, help="seconds to wait for /readyz first (default 0)"
    )
    args = parser.parse_args(argv)
    if args.wait > 0:
        wait_ready(args.url, args.wait)
    for path in take_shots(args.url, args.out, args.token or default_token(), args.chromium):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
