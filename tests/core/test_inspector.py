"""The inspector: how a store, a session and search results render (HTML for Jupyter, short text)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore, NotFoundError, SearchResults, SessionView

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
TURNS = [
    ("user", "Ugh, the gripper keeps dropping cups."),
    ("assistant", "Is it the force sensor or the control loop?"),
    ("user", "The force sensor. I ordered a new one for $89."),
    ("assistant", "Hopefully it arrives soon."),
    ("user", "My sister Ines visits on Saturday."),
    ("assistant", "Nice! Any plans?"),
    ("user", "Probably tacos on South Congress."),
    ("assistant", "Sounds fun."),
]
ALLOWED_TAGS = {"style", "div", "span", "h4", "h5", "p", "b", "br", "table", "thead", "tbody", "tr", "th", "td",
                "details", "summary"}
ALLOWED_ATTRIBUTES = {"class", "style", "title", "colspan", "open"}


class Page(HTMLParser):
    """Every tag, attribute and text of a page, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for _, attrs in self.tags if name in (attrs.get("class") or "").split()]


@pytest.fixture
def core() -> Iterator[MemoryCore]:
    core = MemoryCore(window_messages=4, fold_batch=2)
    for minute, (role, text) in enumerate(TURNS):
        core.add_message("wednesday", role, text, user_id="maya", timestamp=START + timedelta(minutes=minute))
    core.add_message("monday", "user", "I'm allergic to shellfish.", user_id="maya",
                     timestamp=START - timedelta(days=2))
    core.remember("Maya's manager is Luis.", user_id="maya", session_id="wednesday", timestamp=START)
    core.add_message("s1", "user", "I love paella.", user_id="sam", timestamp=START)
    core.flush()
    yield core
    core.close()


def test_search_returns_a_list_that_shows_score_parts(core: MemoryCore) -> None:
    hits = core.search("which sensor did I order?", user_id="maya", k=3, kinds="message")
    assert isinstance(hits, SearchResults) and isinstance(hits, list)
    assert hits == list(hits) and len(hits[:2]) == 2 and hits.query == "which sensor did I order?"
    top = hits[0]
    assert top.record.text == "The force sensor. I ordered a new one for $89."
    page = Page(hits._repr_html_())
    rows = [attrs for tag, attrs in page.tags if tag == "tr"]
    assert len(rows) == 1 + 3  # header + one row per hit
    for part in ("dense", "keyword", "fusion", "recency", "importance"):
        assert part in page.text
    assert f"#{top.explain['keyword_rank']}" in page.text
    fusion = top.explain["fusion"]
    assert (f"{fusion:.3f}" if fusion != 1.0 else "fusion 1") in page.text and f"{top.score:.4f}" in page.text
    assert "2025-03-03 09:02" in page.text and "wednesday" in page.text
    assert len(page.with_class("amp-bar")) == 3
    empty = core.search("zebra quantum", user_id="nobody")
    assert empty == [] and "Nothing matched" in Page(empty._repr_html_()).text


def test_search_results_repr_is_short(core: MemoryCore) -> None:
    hits = core.search("sister", user_id="maya", k=5)
    lines = repr(hits).splitlines()
    assert lines[0] == f"SearchResults('sister', user_id='maya', {len(hits)} hits)"
    assert len(lines) == len(hits) + 1 and all(len(line) < 120 for line in lines)
    assert "My sister Ines visits on Saturday." in lines[1]


def test_session_view_shows_window_summary_and_what_it_covers(core: MemoryCore) -> None:
    view = core.inspect("wednesday", user_id="maya")
    assert isinstance(view, SessionView)
    assert view.counts() == {"messages": 8, "window": 4, "summary": 4, "pending": 0, "memories": 1}
    assert [r.text for r in view.covered] == [text for _, text in TURNS[:4]]
    assert [view.state(r) for r in view.messages] == ["summary"] * 4 + ["window"] * 4
    page = Page(view._repr_html_())
    assert view.summary is not None and view.summary.text in page.text
    assert "covers 4 messages" in page.text and "Maya's manager is Luis." in page.text
    cells = page.with_class("amp-cell")
    assert len(cells) == 8
    assert all((c["title"] or "").split("\n")[1] == text for c, (_, text) in zip(cells, TURNS, strict=True))
    assert ["folded into the summary" in (c["title"] or "") for c in cells] == [True] * 4 + [False] * 4
    # the window table lists the last four turns, in order, after the summary
    window_part = page.text.split("Window")[1]
    positions = [window_part.index(text) for _, text in TURNS[4:]]
    assert positions == sorted(positions)
    assert repr(view) == ("SessionView('wednesday', user_id='maya', 8 messages: 4 in window, 4 summarized, "
                          "0 pending, 1 memories)")
    assert "Probably tacos on South Congress." in str(view)


def test_session_view_before_any_fold_and_unknown_sessions(core: MemoryCore) -> None:
    view = core.inspect("monday", user_id="maya")
    assert view.summary is None and view.counts()["window"] == 1
    assert "None yet" in Page(view._repr_html_()).text
    with pytest.raises(NotFoundError, match="no session 'wednesday' for user 'sam'"):
        core.inspect("wednesday", user_id="sam")  # another user's session is not there for sam
    assert asyncio.run(core.ainspect("s1", user_id="sam")).counts()["messages"] == 1


@pytest.mark.sqlite_only  # the repr names an in-memory SQLite store
def test_core_renders_users_and_sessions_with_counts(core: MemoryCore) -> None:
    page = Page(core._repr_html_())
    rows = [row.split("|") for row in _rows(core._repr_html_())]
    users = {row[0]: row[1:] for row in rows if row[0] in ("maya", "sam") and len(row) == 7}
    # user: sessions, messages, folded, summaries, memories, latest activity
    assert users["maya"][:5] == ["2", "9", "4", "1", "1"] and users["sam"][:5] == ["1", "1", "0", "0", "0"]
    sessions = {row[0]: row[1:] for row in rows if row[0] in ("wednesday", "monday")}
    assert sessions["wednesday"][:4] == ["8", "4", "yes", "1"] and sessions["monday"][:4] == ["1", "0", "no", "0"]
    assert "12 records" in page.text and "2 users" in page.text and "3 sessions" in page.text
    assert repr(core).startswith("MemoryCore('in memory', 12 records")


def test_empty_and_closed_cores_still_render(tmp_path: Path) -> None:
    core = MemoryCore(tmp_path / "store")
    assert "Empty" in Page(core._repr_html_()).text
    core.close()
    page = Page(core._repr_html_())
    assert "closed" in page.text and str(tmp_path / "store") in page.text


PAYLOADS = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(2)' x='",
    "</style><iframe src=javascript:alert(3)></iframe>",
    "&lt;b&gt; already escaped &amp; <!-- comment -->",
]


def test_everything_from_users_is_escaped(tmp_path: Path) -> None:
    evil_user = '"><script>alert("user")</script>'
    evil_session = "<img src=x onerror=alert('session')>"
    with MemoryCore(tmp_path / "</td><script>path</script>", window_messages=2, fold_batch=1) as core:
        for number, payload in enumerate(PAYLOADS * 2):
            core.add_message(evil_session, "user" if number % 2 == 0 else "assistant", payload, user_id=evil_user,
                             metadata={"<script>key</script>": payload, "n": number})
        core.remember(PAYLOADS[1], user_id=evil_user, session_id=evil_session, kind="preference",
                      metadata={"note": PAYLOADS[2]})
        core.flush()
        view = core.inspect(evil_session, user_id=evil_user)
        assert view.summary is not None  # the summary (built from the payloads) is rendered too
        hits = core.search("<script>alert onerror img iframe", user_id=evil_user, k=10)
        assert len(hits) >= 5
        pages = {"core": core._repr_html_(), "session": view._repr_html_(), "search": hits._repr_html_()}
    for name, html in pages.items():
        page = Page(html)
        tags = {tag for tag, _ in page.tags}
        assert tags <= ALLOWED_TAGS, (name, tags - ALLOWED_TAGS)
        attributes = {key for _, attrs in page.tags for key in attrs}
        assert attributes <= ALLOWED_ATTRIBUTES, (name, attributes - ALLOWED_ATTRIBUTES)
        assert html.count("<style>") == 1 and html.count("</style>") == 1
        for _, attrs in page.tags:  # styles are ours: colours and widths, never user text
            assert "alert" not in (attrs.get("style") or "") and "alert" not in (attrs.get("class") or "")
        assert evil_user in page.text, name
    session_text = Page(pages["session"]).text
    for payload in PAYLOADS:  # shown as text, exactly as stored
        assert payload in session_text
    assert evil_session in session_text and "<script>key</script>" in session_text
    titles = [attrs["title"] for attrs in Page(pages["session"]).with_class("amp-cell")]
    assert len(titles) == 10 and all(PAYLOADS[i % 5] in (t or "") for i, t in enumerate(titles))
    assert PAYLOADS[1] in Page(pages["search"]).text and evil_session in Page(pages["core"]).text
    assert "</td><script>path</script>" in Page(pages["core"]).text


def _rows(html: str) -> list[str]:
    """Each table row of a page as 'cell|cell|...' (header rows included)."""

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(html)
    return ["|".join(row) for row in parser.rows]


def test_long_sessions_show_their_newest_messages(core: MemoryCore, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_memory_plugins import inspector

    monkeypatch.setattr(inspector, "MAX_TIMELINE", 3)
    monkeypatch.setattr(inspector, "MAX_ROWS", 2)
    page = Page(core.inspect("wednesday", user_id="maya")._repr_html_())
    cells = page.with_class("amp-cell")
    assert [(c["title"] or "").split("\n")[1] for c in cells] == [text for _, text in TURNS[-3:]]
    assert "the newest 3 of 8 messages" in page.text and "The newest 2 of 8 messages" in page.text
    assert TURNS[0][1] not in page.text.split("The newest 2 of 8 messages")[1]
