"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Clicks through users, a session, a search and a forget against a real server, and saves a
screenshot to ``tests/artifacts/`` (git-ignored). Skipped, with a message, where Chromium or
Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.errors import NotFoundError

from .support import KEY, Running, running

CHROMIUM = os.environ.get("AGENT_MEMORY_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, or a skip saying what is missing."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set AGENT_MEMORY_TEST_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dashboard test needs playwright (dev group)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], errors


def test_a_user_a_session_a_search_and_a_forget(page: Any, server: Running, ids: dict[str, str]) -> None:
    page.goto(server.url)
    page.wait_for_selector("[data-testid=key-form]:not([hidden])")  # the server wants a key
    page.fill("#key-input", KEY)
    page.click("[data-testid=key-form] button")

    page.click("[data-user=alice]")  # users, then the sessions of one, with counts
    page.wait_for_selector("[data-session=trip]")
    assert "10 msgs · 4 folded · 2 mem" in page.inner_text("[data-session=trip]")
    assert "2 sessions" in page.inner_text("[data-user=alice]")

    page.click("[data-session=trip]")  # the session's timeline
    page.wait_for_selector("[data-testid=summary]")
    session = page.locator("[data-testid=session]")
    assert "hiking trip" in page.inner_text("[data-testid=summary]")
    assert page.locator("[data-testid=timeline] > div").count() == 10
    assert page.locator("[data-testid=timeline] > div.state-summary").count() == 4
    assert "6 in the window" in session.inner_text() and "4 folded into the summary" in session.inner_text()
    memories = page.locator("[data-testid=memories]")
    assert "superseded by" in memories.inner_text() and "I live in Denver" in memories.inner_text()

    page.fill("[data-testid=search-query]", "hiking in the mountains")  # a search with score parts as bars
    page.click("#search-form button")
    page.wait_for_selector("tr.hit")
    first = page.locator("tr.hit").first
    assert "Alice loves hiking in the mountains" in first.inner_text()
    parts = first.locator("[data-testid=score-parts]")
    for part in ("dense", "keyword", "fusion", "recency", "importance"):
        assert part in parts.inner_text()
    widths = first.locator(".bar > div").evaluate_all("bars => bars.map(b => b.style.width)")
    assert len(widths) == 5 and any(width != "0%" for width in widths)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    first.click()  # a memory's history and links
    page.wait_for_selector("[data-testid=record-text]")
    detail = page.locator("[data-testid=detail]")
    assert "seen" in detail.inner_text() and "I moved to Austin" in detail.inner_text()

    page.click("[data-testid=forget]")  # forget asks first; cancel keeps the memory
    page.click("[data-testid=confirm] button[value=cancel]")
    assert server.core.get(ids["hiking"], user_id="alice").times_seen == 2
    page.click("[data-testid=forget]")
    page.click("[data-testid=confirm-ok]")
    page.wait_for_selector("[data-testid=forgotten]")
    assert page.locator(f"tr.hit[data-id='{ids['hiking']}']").count() == 0
    with pytest.raises(NotFoundError):
        server.core.get(ids["hiking"], user_id="alice")
    page.wait_for_selector("[data-user=alice]:has-text(\"2 mem\")")  # the counts follow the forget
    page.screenshot(path=str(ARTIFACTS / "dashboard-after-forget.png"), full_page=True)


def test_a_read_only_dashboard_offers_no_forget(page: Any, core: MemoryCore, ids: dict[str, str]) -> None:
    with running(core, api_key=None, read_only=True) as live:
        page.goto(live.url)
        page.wait_for_selector("text=read-only")
        page.click("[data-user=alice]")
        page.wait_for_selector("[data-testid=memories] tr[data-id]")
        page.click(f"[data-testid=memories] tr[data-id='{ids['austin']}']")
        page.wait_for_selector("[data-testid=forget]")
        assert page.locator("[data-testid=forget]").is_disabled()
    assert core.get(ids["austin"], user_id="alice").text == "I moved to Austin"
