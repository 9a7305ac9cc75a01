"""What a store, a session and search results look like: HTML for Jupyter, short text for a terminal.

``MemoryCore`` renders itself (``_repr_html_``) as per-user and per-session counts;
``MemoryCore.inspect(session_id, user_id=...)`` returns a :class:`SessionView` (the window, the
summary and the messages it covers, a timeline); ``MemoryCore.search`` returns
:class:`SearchResults`, a real ``list`` of hits that shows each hit's score parts.

Everything that came from a user (text, ids, metadata, session names) is HTML-escaped before it
reaches the page, in element text and in attributes alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError
from .records import MEMORY_KINDS, Block, Hit, MemoryRecord, SearchResults, one_line

if TYPE_CHECKING:
    from .core.memory import MemoryCore
    from .core.storage import Activity

__all__ = ["SearchResults", "SessionView", "Tally", "core_html", "newest_first", "session_view",
           "tally_activity"]

MAX_TEXT = 600
"""Longest text shown in one table cell (the rest is cut, with a mark)."""
MAX_TIMELINE = 400
"""Most messages drawn on a session's timeline (the newest ones)."""
MAX_ROWS = 200
"""Most rows of a message table (the newest ones)."""
MAX_USERS = 50
MAX_SESSIONS = 25
STATES = {
    "summary": ("folded into the summary", "#8e6fd1"),
    "pending": ("left the window, not folded yet", "#e0a030"),
    "window": ("in the window", "#2f8fd8"),
}

CSS = """<style>
.amp{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;font-size:13px;
 line-height:1.45;max-width:1100px}
.amp h4{margin:.2em 0 .4em;font-size:15px}
.amp h5{margin:1em 0 .3em;font-size:13px}
.amp .amp-muted{opacity:.65}
.amp .amp-mono{font-family:SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.amp table.amp-t{border-collapse:collapse;margin:.3em 0;width:auto}
.amp table.amp-t th{text-align:left;font-weight:600;border-bottom:1px solid rgba(127,127,127,.45);
 padding:3px 8px;white-space:nowrap}
.amp table.amp-t td{text-align:left;vertical-align:top;border-bottom:1px solid rgba(127,127,127,.18);
 padding:3px 8px}
.amp table.amp-t th.amp-n{text-align:right}
.amp table.amp-t td.amp-n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.amp table.amp-t td.amp-text{white-space:pre-wrap;word-break:break-word;min-width:20em;max-width:46em}
.amp .amp-nowrap{white-space:nowrap}
.amp .amp-badge{display:inline-block;border-radius:9px;padding:0 8px;margin:0 4px 3px 0;
 background:rgba(127,127,127,.16);white-space:nowrap}
.amp .amp-chip{display:inline-block;border-radius:4px;padding:0 5px;margin:0 3px 2px 0;
 background:rgba(127,127,127,.13);white-space:nowrap;font-size:11.5px}
.amp .amp-chip b{font-weight:600}
.amp .amp-strip{display:flex;flex-wrap:wrap;gap:2px;margin:.35em 0}
.amp .amp-cell{width:12px;height:18px;border-radius:2px}
.amp .amp-dot{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;
 vertical-align:-1px}
.amp .amp-summary{white-space:pre-wrap;border-left:3px solid #8e6fd1;padding:4px 10px;margin:.3em 0;
 background:rgba(142,111,209,.07)}
.amp .amp-bar{height:6px;border-radius:3px;background:#2f8fd8;margin-top:3px}
.amp details>summary{cursor:pointer;margin:.6em 0 .2em;font-weight:600}
.amp .amp-day td{font-weight:600;background:rgba(127,127,127,.08)}
</style>"""


# -- small helpers ----------------------------------------------------------------------------
def _e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape(str(value), quote=True)


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(moment: datetime | float | None) -> str:
    if moment is None:
        return ""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e6):
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 0.001 else f"{value:.3f}"


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


def _table(headers: Sequence[str], rows: Iterable[str], numeric: Sequence[int] = ()) -> str:
    """A table whose ``numeric`` columns (by index) have right-aligned headers, like their cells."""
    cells = ['<th class="amp-n">' if i in numeric else "<th>" for i in range(len(headers))]
    head = "".join(f"{cell}{_e(h)}</th>" for cell, h in zip(cells, headers, strict=True))
    return f'<table class="amp-t"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _text_cell(record: MemoryRecord) -> str:
    """The record's text (escaped, clipped) and its metadata, small, when it has any."""
    cell = _e(_clip(record.text))
    if record.metadata:
        meta = json.dumps(record.metadata, ensure_ascii=False, default=str)
        cell += f'<div class="amp-muted amp-mono">{_e(_clip(meta, 200))}</div>'
    return f'<td class="amp-text">{cell}</td>'


def _wrap(body: str) -> str:
    return f'{CSS}<div class="amp">{body}</div>'


# -- search results ---------------------------------------------------------------------------
SCORE_PARTS = ("dense", "keyword", "fusion", "recency", "importance")


def search_results_html(results: SearchResults) -> str:
    """``SearchResults._repr_html_``: the hits as an HTML table with their score parts."""
    top = max((hit.score for hit in results), default=0.0) or 1.0
    rows = [_hit_row(position, hit, top) for position, hit in enumerate(results, start=1)]
    head = (f"<h4>Search <span class=\"amp-mono\">{_e(results.query)}</span> "
            f"<span class=\"amp-muted\">for user {_e(results.user_id)}: {_plural(len(results), 'hit')}</span></h4>")
    if not rows:
        return _wrap(head + '<p class="amp-muted">Nothing matched.</p>')
    legend = ('<p class="amp-muted">score = fusion × (1 + recency weight × recency + importance weight × '
              "(importance − 0.5)) × time × question; fusion is the weighted mean of the dense and keyword "
              "scores, each divided by the best one (1.0 = best on both); time: the query named when it was "
              "said; question: the record only asks.</p>")
    table = _table(("#", "score", "text", "kind", "session", "when", "why it matched"), rows, (0, 1))
    return _wrap(head + table + legend)


def _hit_row(position: int, hit: Hit, top: float) -> str:
    record = hit.record
    width = max(2.0, min(100.0, 100.0 * hit.score / top))
    score = f'{hit.score:.4f}<div class="amp-bar" style="width:{width:.0f}%"></div>'
    kind = _e(record.kind)
    if record.kind == "message":
        kind += f'<br><span class="amp-muted">{_e(record.role)}</span>'
    return (
        f'<tr><td class="amp-n">{position}</td><td class="amp-n">{score}</td>{_text_cell(record)}'
        f"<td>{kind}</td><td>{_e(record.session_id or '')}</td>"
        f'<td class="amp-nowrap">{_e(_when(record.timestamp))}</td><td>{_explain_chips(hit.explain)}</td></tr>'
    )


def _explain_chips(explain: dict[str, Any]) -> str:
    """The parts of a score as chips: ranks with raw scores, then the other parts, then anything new."""
    chips = []
    for name in ("dense", "keyword"):
        rank = explain.get(f"{name}_rank")
        if rank is None:
            chips.append(f'<span class="amp-chip amp-muted">{name}: not found</span>')
        else:
            raw = explain.get(f"{name}_score")
            detail = f" ({_e(_number(raw))})" if raw is not None else ""
            chips.append(f'<span class="amp-chip"><b>{name}</b> #{_e(_number(rank))}{detail}</span>')
    shown = {"score", *(f"{n}_{p}" for n in ("dense", "keyword") for p in ("rank", "score"))}
    for key, value in explain.items():
        if key in shown:
            continue
        chips.append(f'<span class="amp-chip"><b>{_e(key)}</b> {_e(_number(value))}</span>')
    return "".join(chips)


# -- one session ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionView:
    """One session of one user as the memory holds it: working-memory blocks, messages, window,
    summary and memories (with the messages each extracted memory came from).

    ``state(record)`` says where a message is: ``"window"`` (the model sees it verbatim),
    ``"summary"`` (folded into the running summary) or ``"pending"`` (left the window, waiting to
    be folded). Renders as HTML in Jupyter; ``str()`` gives a plain-text view.
    """

    session_id: str
    user_id: str
    messages: list[MemoryRecord]
    window: list[MemoryRecord]
    summary: MemoryRecord | None = None
    memories: list[MemoryRecord] = field(default_factory=list)
    window_messages: int | None = None
    window_tokens: int | None = None
    blocks: list[Block] = field(default_factory=list)

    @property
    def covered(self) -> list[MemoryRecord]:
        """The stored messages the summary stands for, oldest first."""
        covers = set(self.summary.covers) if self.summary else set()
        return [record for record in self.messages if record.id in covers]

    def state(self, record: MemoryRecord) -> str:
        """``"window"``, ``"summary"`` or ``"pending"`` for one of the session's messages."""
        if record.id in {r.id for r in self.window}:
            return "window"
        if self.summary is not None and record.id in self.summary.covers:
            return "summary"
        return "pending"

    def counts(self) -> dict[str, int]:
        """How many messages are in each state, and how many memories the session holds."""
        window = {r.id for r in self.window}
        covers = set(self.summary.covers) if self.summary else set()
        in_summary = sum(1 for r in self.messages if r.id in covers and r.id not in window)
        return {
            "messages": len(self.messages), "window": len(self.window), "summary": in_summary,
            "pending": len(self.messages) - len(self.window) - in_summary, "memories": len(self.memories),
        }

    def __repr__(self) -> str:
        c = self.counts()
        return (f"SessionView({self.session_id!r}, user_id={self.user_id!r}, {c['messages']} messages: "
                f"{c['window']} in window, {c['summary']} summarized, {c['pending']} pending, "
                f"{c['memories']} memories)")

    def sources(self, record: MemoryRecord) -> list[MemoryRecord]:
        """The session's messages a memory was extracted from (``metadata["derived_from"]``)."""
        wanted = record.metadata.get("derived_from") or []
        return [message for message in self.messages if message.id in wanted]

    def __str__(self) -> str:
        lines = [repr(self)]
        for block in self.blocks:
            scope = "user" if block.session_id is None else "session"
            lines.append(f"block {block.name} ({scope}, v{block.version}, {len(block.text)}/{block.limit} chars): "
                         f"{one_line(block.text, 200)}")
        if self.summary is not None:
            lines.append(f"summary (covers {len(self.summary.covers)} messages): {one_line(self.summary.text, 300)}")
        for record in self.messages[-MAX_ROWS:]:
            state, role, text = self.state(record), record.role, one_line(record.text)
            lines.append(f"  {_when(record.timestamp)}  {state:7}  {role:9}  {text}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The session as HTML: counts, a timeline, the summary and what it covers, the window."""
        c = self.counts()
        badges = [_plural(c["messages"], "message")] + [
            f'<span class="amp-dot" style="background:{STATES[s][1]}"></span>{c[s]} {STATES[s][0]}'
            for s in ("window", "summary", "pending")
        ] + [_plural(c["memories"], "long-term memory", "long-term memories")]
        span = ""
        if self.messages:
            span = f"{_when(self.messages[0].timestamp)} → {_when(self.messages[-1].timestamp)} (UTC)"
        parts = [
            f"<h4>Session <span class=\"amp-mono\">{_e(self.session_id)}</span> "
            f"<span class=\"amp-muted\">of user {_e(self.user_id)}</span></h4>",
            "<div>" + "".join(f'<span class="amp-badge">{b}</span>' for b in badges) + "</div>",
            f'<div class="amp-muted">{_e(span)}</div>' if span else "",
            self._blocks_html(),
            self._timeline_html(),
            self._summary_html(),
            self._window_html(),
            self._memories_html(),
            self._all_messages_html(),
        ]
        return _wrap("".join(parts))

    def _blocks_html(self) -> str:
        if not self.blocks:
            return ""
        rows = [
            f'<tr><td class="amp-mono">{_e(b.name)}</td><td>{"user" if b.session_id is None else "session"}</td>'
            f'<td class="amp-nowrap">v{b.version} · {_e(_when(b.updated_at))}</td>'
            f'<td class="amp-nowrap">{len(b.text)}/{b.limit}</td><td class="amp-summary">{_e(_clip(b.text))}</td></tr>'
            for b in self.blocks
        ]
        return ("<h5>Working memory <span class=\"amp-muted\">(always in the context)</span></h5>"
                + _table(("block", "scope", "version", "chars", "text"), rows))

    def _timeline_html(self) -> str:
        if not self.messages:
            return '<p class="amp-muted">No messages.</p>'
        shown = self.messages[-MAX_TIMELINE:]
        cells = []
        for record in shown:
            state = self.state(record)
            title = f"{_when(record.timestamp)} · {record.role} · {STATES[state][0]}\n{_clip(record.text, 160)}"
            cells.append(f'<div class="amp-cell" style="background:{STATES[state][1]}" title="{_e(title)}"></div>')
        note = ""
        if len(self.messages) > len(shown):
            note = f'<div class="amp-muted">the newest {len(shown)} of {len(self.messages)} messages</div>'
        return (f"<h5>Timeline <span class=\"amp-muted\">(oldest first; hover a cell for its message)</span></h5>"
                f'<div class="amp-strip">{"".join(cells)}</div>{note}')

    def _summary_html(self) -> str:
        if self.summary is None:
            return ('<h5>Summary</h5><p class="amp-muted">None yet: nothing has been folded '
                    "(messages are folded once enough of them have left the window).</p>")
        covered = self.covered
        span = f", {_when(covered[0].timestamp)} → {_when(covered[-1].timestamp)}" if covered else ""
        head = (f"<h5>Summary <span class=\"amp-muted\">covers {len(self.summary.covers)} messages{_e(span)}"
                "</span></h5>")
        body = f'<div class="amp-summary">{_e(self.summary.text)}</div>'
        rows = [_message_row(record) for record in covered[-MAX_ROWS:]]
        detail = (f"<details><summary>The {len(covered)} messages it covers</summary>"
                  f"{_table(('when', 'role', 'text'), rows)}</details>") if covered else ""
        return head + body + detail

    def _window_html(self) -> str:
        limits = []
        if self.window_messages is not None:
            limits.append(_plural(self.window_messages, "message"))
        if self.window_tokens is not None:
            limits.append(f"{self.window_tokens} tokens")
        limit = f"limit {' and '.join(limits)}" if limits else "no limit"
        head = f"<h5>Window <span class=\"amp-muted\">{_plural(len(self.window), 'message')}, {_e(limit)}</span></h5>"
        if not self.window:
            return head + '<p class="amp-muted">Empty.</p>'
        return head + _table(("when", "role", "text"), [_message_row(record) for record in self.window])

    def _memories_html(self) -> str:
        if not self.memories:
            return ""
        rows = [f'<tr><td class="amp-nowrap">{_e(_when(r.timestamp))}</td><td>{_e(r.kind)}</td>{_text_cell(r)}'
                f"<td>{self._source_html(r)}</td></tr>"
                for r in self.memories[-MAX_ROWS:]]
        return ("<h5>Long-term memories stored in this session</h5>"
                f"{_table(('when', 'kind', 'text', 'came from'), rows)}")

    def _source_html(self, record: MemoryRecord) -> str:
        sources = self.sources(record)
        if not sources:
            return '<span class="amp-muted">written directly</span>'
        lines = "".join(f"<li>{_e(m.role)}: {_e(_clip(m.text, 120))}</li>" for m in sources)
        head = f"extracted from {_plural(len(sources), 'message')}"
        return f"<details><summary>{head}</summary><ul>{lines}</ul></details>"

    def _all_messages_html(self) -> str:
        if not self.messages:
            return ""
        shown = self.messages[-MAX_ROWS:]
        rows, day = [], ""
        for record in shown:
            today = _when(record.timestamp)[:10]
            if today != day:
                rows.append(f'<tr class="amp-day"><td colspan="4">{_e(today)}</td></tr>')
                day = today
            state = self.state(record)
            dot = f'<span class="amp-dot" style="background:{STATES[state][1]};margin-left:0"></span>'
            rows.append(f'<tr><td class="amp-nowrap">{_e(_when(record.timestamp)[11:])}</td>'
                        f'<td class="amp-nowrap">{dot}{_e(state)}</td><td>{_e(record.role)}</td>'
                        f"{_text_cell(record)}</tr>")
        title = f"All {_plural(len(self.messages), 'message')}" if len(shown) == len(self.messages) else (
            f"The newest {len(shown)} of {len(self.messages)} messages")
        return f"<details><summary>{title}</summary>{_table(('time', 'state', 'role', 'text'), rows)}</details>"


def _message_row(record: MemoryRecord) -> str:
    return (f'<tr><td class="amp-nowrap">{_e(_when(record.timestamp))}</td><td>{_e(record.role)}</td>'
            f"{_text_cell(record)}</tr>")


def session_view(core: MemoryCore, session_id: str, *, user_id: str = "default") -> SessionView:
    """Gather what ``core`` holds for one session (raises ``NotFoundError`` for an empty one)."""
    messages = core.messages(session_id, user_id=user_id)
    memories = core.records(user_id=user_id, session_id=session_id, kinds=list(MEMORY_KINDS))
    summary = core.summary_record(session_id, user_id=user_id)
    blocks = core.blocks(user_id=user_id, session_id=session_id)
    if not messages and not memories and summary is None and not blocks:
        raise NotFoundError(f"no session {session_id!r} for user {user_id!r}; "
                            f"its sessions are {core.sessions(user_id=user_id)[:20]}")
    return SessionView(
        session_id=session_id, user_id=user_id, messages=messages,
        window=core.window(session_id, user_id=user_id), summary=summary, memories=memories,
        window_messages=core.settings.window_messages, window_tokens=core.settings.window_tokens, blocks=blocks,
    )


# -- the whole store --------------------------------------------------------------------------
@dataclass
class Tally:
    """What a user or a session holds: messages (and how many are folded), summaries, long-term
    memories, and the time span they were said in (epoch seconds)."""

    messages: int = 0
    folded: int = 0
    summaries: int = 0
    memories: int = 0
    first: float | None = None
    last: float | None = None

    def add(self, row: Activity) -> None:
        """Count one ``activity()`` row."""
        if row.kind == "message":
            self.messages += row.count
            self.folded += row.summarized
        elif row.kind == "summary":
            self.summaries += row.count
        else:
            self.memories += row.count
        self.first = row.first_ts if self.first is None else min(self.first, row.first_ts)
        self.last = row.last_ts if self.last is None else max(self.last, row.last_ts)


def tally_activity(activity: Iterable[Activity]) -> tuple[dict[str, Tally], dict[str, dict[str, Tally]]]:
    """Counts per user, and per session of each user, from the record store's ``activity()`` rows."""
    users: dict[str, Tally] = {}
    sessions: dict[str, dict[str, Tally]] = {}
    for row in activity:
        users.setdefault(row.user_id, Tally()).add(row)
        if row.session_id is not None:
            sessions.setdefault(row.user_id, {}).setdefault(row.session_id, Tally()).add(row)
    return users, sessions


def core_html(core: MemoryCore) -> str:
    """``MemoryCore._repr_html_``: the store's set-up, then users and their sessions with counts."""
    where = core.settings.path or "in memory"
    try:
        activity = core.store.activity()
        pending, vectors = core.indexer.pending(), core.index.count()
    except Exception as error:  # a closed store still renders
        return _wrap(f"<h4>MemoryCore <span class=\"amp-mono\">{_e(where)}</span></h4>"
                     f'<p class="amp-muted">{_e(error)}</p>')
    users, sessions = tally_activity(activity)
    records = sum(row.count for row in activity)
    badges = [_plural(records, "record"), _plural(len(users), "user"),
              _plural(sum(len(s) for s in sessions.values()), "session"), _plural(vectors, "vector"),
              f"{pending} waiting to be indexed", f"chroma: {core.index.mode}",
              f"embedder: {core.embedder.name}"]
    parts = [f"<h4>MemoryCore <span class=\"amp-mono\">{_e(where)}</span></h4>",
             "<div>" + "".join(f'<span class="amp-badge">{_e(b)}</span>' for b in badges) + "</div>"]
    if not users:
        parts.append('<p class="amp-muted">Empty: nothing stored yet.</p>')
        return _wrap("".join(parts))
    ordered = newest_first(users)
    rows = [_count_row(user, (len(sessions.get(user, {})), t.messages, t.folded, t.summaries, t.memories), (t.last,))
            for user, t in ((user, users[user]) for user in ordered[:MAX_USERS])]
    parts.append("<h5>Users <span class=\"amp-muted\">(latest activity first)</span></h5>")
    parts.append(_table(("user", "sessions", "messages", "folded into summaries", "summaries", "memories",
                         "latest activity (UTC)"), rows, (1, 2, 3, 4, 5)))
    if len(ordered) > MAX_USERS:
        parts.append(f'<p class="amp-muted">… and {len(ordered) - MAX_USERS} more users</p>')
    for number, user in enumerate(ordered[:MAX_USERS]):
        parts.append(_user_sessions_html(user, sessions.get(user, {}), open_=number < 3))
    return _wrap("".join(parts))


def newest_first(tallies: dict[str, Tally]) -> list[str]:
    """Ids by latest activity, newest first."""
    return sorted(tallies, key=lambda name: tallies[name].last or 0.0, reverse=True)


def _count_row(name: str, counts: Sequence[object], times: Sequence[float | None]) -> str:
    """A row of a count table: an id, right-aligned counts, then times."""
    cells = "".join(f'<td class="amp-n">{_e(count)}</td>' for count in counts)
    cells += "".join(f'<td class="amp-nowrap">{_e(_when(moment))}</td>' for moment in times)
    return f'<tr><td class="amp-mono">{_e(name)}</td>{cells}</tr>'


def _user_sessions_html(user: str, sessions: dict[str, Tally], open_: bool) -> str:
    if not sessions:
        return ""
    ordered = newest_first(sessions)
    rows = [_count_row(session, (t.messages, t.folded, "yes" if t.summaries else "no", t.memories), (t.first, t.last))
            for session, t in ((session, sessions[session]) for session in ordered[:MAX_SESSIONS])]
    more = f'<p class="amp-muted">… and {len(ordered) - MAX_SESSIONS} more sessions</p>' if len(
        ordered) > MAX_SESSIONS else ""
    table = _table(("session", "messages", "folded", "summary", "memories", "first (UTC)", "latest (UTC)"), rows,
                   (1, 2, 3, 4))
    return (f"<details{' open' if open_ else ''}><summary>Sessions of <span class=\"amp-mono\">{_e(user)}</span> "
            f"<span class=\"amp-muted\">({len(sessions)})</span></summary>{table}{more}</details>")
