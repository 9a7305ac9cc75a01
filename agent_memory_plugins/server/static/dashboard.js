// The agent-memory dashboard: plain JavaScript over the JSON API (no build step).
// Everything that came from a user is put on the page as text (textContent), never as markup.
"use strict";

const PAGE = 25;          // rows per page of a listing
const STRIP = 200;        // messages drawn on a session's timeline strip (the newest ones)
const PARTS = ["dense", "keyword", "fusion", "recency", "importance"];
const state = { user: null, session: null, readOnly: false };

// -- small helpers ------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
function when(iso) { return iso ? iso.replace("T", " ").slice(0, 16) : ""; }
function clip(text, n = 400) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
function num(x) { return x === null || x === undefined ? "–" : (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3)); }
function show(id, visible = true) { $(id).hidden = !visible; }
function userPath() { return `/api/users/${enc(state.user)}`; }
function sessionPath() { return `${userPath()}/sessions/${enc(state.session)}`; }

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("agent-memory-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    show("key-form");
    throw new Error("This server needs an API key: enter it above.");
  }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const detail = body && body.detail;
    const message = Array.isArray(detail) ? detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")
      : detail || response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  return body;
}

function report(error) {
  $("error").textContent = error.message || String(error);
  show("error");
}
function clearError() { show("error", false); }
async function guarded(work) {
  clearError();
  try { await work(); } catch (error) { report(error); }
}

function pager(container, page, load) {
  container.replaceChildren();
  const start = page.items.length ? page.offset + 1 : 0;
  const end = page.offset + page.items.length;
  const of = page.total === null || page.total === undefined ? "" : ` of ${page.total}`;
  container.append(
    el("button", { type: "button", text: "‹ prev", disabled: page.offset === 0,
                   onclick: () => guarded(() => load(Math.max(0, page.offset - page.limit))) }),
    el("span", { text: `${start}–${end}${of}` }),
    el("button", { type: "button", text: "next ›", disabled: page.next_offset === null, "data-testid": "next",
                   onclick: () => guarded(() => load(page.next_offset)) }),
  );
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
            el("tbody", {}, ...rows));
}

function importance(value) {
  const bar = el("span", { class: "imp", title: `importance ${value.toFixed(2)}` },
                 el("div", { style: `width:${Math.round(value * 100)}%` }));
  return el("span", {}, bar, value.toFixed(2));
}

// -- store and users ----------------------------------------------------------------------------
async function loadStats() {
  const stats = await api("/api/stats");
  state.readOnly = stats.read_only;
  const badges = [`${stats.records} records`, `${stats.users} users`, `${stats.sessions} sessions`,
                  `${stats.pending_index} waiting to be indexed`, `${stats.vectors} vectors`,
                  `chroma: ${stats.chroma}`];
  $("stats").replaceChildren(...badges.map((text) => el("span", { class: "badge", text })));
  if (stats.read_only) $("stats").append(el("span", { class: "badge ro", text: "read-only" }));
}

// A list of ids with their counts; a click picks one. ``kind`` is "user" or "session".
function pickList(kind, items, current, describe, pick) {
  const id = (item) => item[`${kind}_id`];
  return items.map((item) => el("li", { class: id(item) === current ? "active" : "", [`data-${kind}`]: id(item),
                                        onclick: () => guarded(() => pick(id(item))) },
    el("span", { class: "mono", text: id(item) }), el("span", { class: "counts", text: describe(item.counts) })));
}

async function loadUsers(offset = 0) {
  const page = await api(`/api/users?offset=${offset}&limit=${PAGE}`);
  $("users").replaceChildren(...pickList("user", page.items, state.user,
    (c) => `${c.sessions} sessions · ${c.messages} msgs · ${c.memories} mem`, selectUser));
  pager($("users-pager"), page, loadUsers);
}

async function selectUser(user) {
  state.user = user;
  state.session = null;
  for (const li of $("users").children) li.classList.toggle("active", li.dataset.user === user);
  $("sessions-user").textContent = user;
  show("sessions-section");
  show("search-section");
  show("session", false);
  show("detail", false);
  show("hint", false);
  $("search-results").replaceChildren();
  await Promise.all([loadSessions(0), loadMemories(0)]);
}

async function loadSessions(offset = 0) {
  const page = await api(`${userPath()}/sessions?offset=${offset}&limit=${PAGE}`);
  $("sessions").replaceChildren(...pickList("session", page.items, state.session,
    (c) => `${c.messages} msgs · ${c.folded} folded · ${c.memories} mem`, selectSession));
  if (!page.items.length) $("sessions").append(el("li", { class: "muted", text: "No sessions." }));
  pager($("sessions-pager"), page, loadSessions);
}

// -- long-term memories -------------------------------------------------------------------------
function memoryRows(records) {
  return records.map((r) => el("tr", { class: `clickable${r.superseded_by ? " superseded" : ""}`, "data-id": r.id,
                                       onclick: () => guarded(() => showRecord(r.id)) },
    el("td", { text: when(r.timestamp) }), el("td", { text: r.kind }),
    el("td", { class: "text", text: clip(r.text) }),
    el("td", {}, importance(r.importance)),
    el("td", { text: r.times_seen > 1 ? `seen ${r.times_seen}×` : "" }),
    el("td", { class: "mono", text: r.superseded_by ? `superseded by ${r.superseded_by.slice(0, 8)}…` : "" })));
}

async function loadMemories(offset = 0, session = null) {
  const kinds = "kind=fact&kind=event&kind=preference&kind=skill";
  const scope = session ? `&session_id=${enc(session)}` : "";
  const page = await api(`${userPath()}/records?${kinds}${scope}&newest_first=true&offset=${offset}&limit=${PAGE}`);
  const box = $("memories");
  const title = session ? "Long-term memories of this session" : `Long-term memories of ${state.user}`;
  const pagerBox = el("div", { class: "pager" });
  box.replaceChildren(el("h2", { text: title }),
                      page.items.length ? table(["when", "kind", "text", "importance", "", "supersession"],
                                                memoryRows(page.items))
                                        : el("p", { class: "muted", text: "None." }), pagerBox);
  pager(pagerBox, page, (next) => loadMemories(next, session));
  show("memories");
}

// -- one session --------------------------------------------------------------------------------
function messageRows(messages) {
  return messages.map((m) => el("tr", { class: "clickable", "data-id": m.id, onclick: () => guarded(() => showRecord(m.id)) },
    el("td", { text: when(m.timestamp) }),
    el("td", {}, el("span", { class: `dot state-${m.state}` }), m.state),
    el("td", { text: m.role }), el("td", { class: "text", text: clip(m.text) })));
}

async function selectSession(session) {
  state.session = session;
  for (const li of $("sessions").children) li.classList.toggle("active", li.dataset.session === session);
  show("detail", false);
  const [detail, strip] = await Promise.all([
    api(sessionPath()), api(`${sessionPath()}/messages?newest_first=true&limit=${STRIP}`),
  ]);
  const c = detail.counts;
  const box = $("session");
  const badges = el("div", { class: "badges" },
    el("span", { class: "badge", text: `${c.messages} messages` }),
    ...["window", "summary", "pending"].map((s) => el("span", { class: "badge" },
      el("span", { class: `dot state-${s}` }),
      `${c[s]} ${s === "window" ? "in the window" : s === "summary" ? "folded into the summary" : "left the window, not folded yet"}`)),
    el("span", { class: "badge", text: `${c.memories} long-term memories` }),
    el("span", { class: "badge", text: `${detail.pending_index} records waiting to be indexed (store)` }));
  const cells = strip.items.slice().reverse().map((m) => el("div", { class: `state-${m.state}`,
    title: `${when(m.timestamp)} · ${m.role} · ${m.state}\n${clip(m.text, 160)}` }));
  const summary = detail.summary.record
    ? [el("h3", { text: `Summary (covers ${detail.summary.record.covers} messages)` }),
       el("div", { class: "summary", "data-testid": "summary", text: detail.summary.text }),
       el("details", { "data-testid": "covered", ontoggle: (event) => event.target.open && guarded(() => loadCovered(0)) },
          el("summary", { text: "The messages it covers" }), el("div", { id: "covered" }))]
    : [el("h3", { text: "Summary" }), el("p", { class: "muted", text: "None yet: nothing has been folded." })];
  const limits = [detail.window_messages && `${detail.window_messages} messages`,
                  detail.window_tokens && `${detail.window_tokens} tokens`].filter(Boolean).join(" and ") || "no limit";
  box.replaceChildren(
    el("h2", {}, "Session ", el("span", { class: "mono", text: session }), " ",
       el("span", { class: "muted", text: `${when(detail.first)} → ${when(detail.last)} UTC` })),
    badges,
    el("h3", { text: `Timeline (the newest ${cells.length} messages, oldest first; hover a cell)` }),
    el("div", { class: "strip", "data-testid": "timeline" }, ...cells),
    ...summary,
    el("h3", { text: `Window (${detail.window.length} messages, limit ${limits})` }),
    detail.window.length
      ? table(["when", "state", "role", "text"], messageRows(detail.window.map((m) => ({ ...m, state: "window" }))))
      : el("p", { class: "muted", text: "Empty." }),
    el("h3", { text: "All messages" }), el("div", { id: "messages" }),
    el("div", { class: "muted", text: "" }),
  );
  show("session");
  show("search-section");
  await Promise.all([loadMessages(0), loadMemories(0, session)]);
}

async function loadMessages(offset = 0) {
  const page = await api(`${sessionPath()}/messages?offset=${offset}&limit=${PAGE}`);
  const pagerBox = el("div", { class: "pager" });
  $("messages").replaceChildren(table(["when", "state", "role", "text"], messageRows(page.items)), pagerBox);
  pager(pagerBox, page, loadMessages);
}

async function loadCovered(offset = 0) {
  // The summary covers the oldest folded messages; page through the session's messages in state "summary".
  const page = await api(`${sessionPath()}/messages?offset=${offset}&limit=${PAGE}`);
  const folded = page.items.filter((m) => m.state === "summary");
  const pagerBox = el("div", { class: "pager" });
  $("covered").replaceChildren(table(["when", "state", "role", "text"], messageRows(folded)), pagerBox);
  pager(pagerBox, page, loadCovered);
}

// -- search -------------------------------------------------------------------------------------
function bars(hit, best) {
  const grid = el("div", { class: "bars", "data-testid": "score-parts" });
  for (const part of PARTS) {
    let value = hit.parts[part];
    let width = value === null ? 0 : value;
    if (part === "keyword" && value !== null) width = best.keyword ? value / best.keyword : 0;  // BM25: relative
    width = Math.max(0, Math.min(1, width));
    grid.append(el("span", { text: part }),
                el("div", { class: `bar part-${part}`, title: `${part}: ${num(value)}` },
                   el("div", { style: `width:${Math.round(width * 100)}%` })),
                el("span", { class: "mono", text: num(value) }));
  }
  const factors = [];
  if (hit.parts.time !== 1) factors.push(`time ×${hit.parts.time.toFixed(2)}`);
  if (hit.parts.question !== 1) factors.push(`question ×${hit.parts.question.toFixed(2)}`);
  if (hit.explain.superseded_by) factors.push("superseded");
  if (hit.explain.linked_from) factors.push(`linked (${hit.explain.relation})`);
  return el("div", {}, grid, factors.length ? el("div", { class: "factor", text: factors.join(" · ") }) : null);
}

async function search(event) {
  event.preventDefault();
  const body = { query: $("search-query").value, k: Number($("search-k").value) || 8 };
  if ($("search-session").checked && state.session) body.session_id = state.session;
  const result = await api(`${userPath()}/search`, { method: "POST", body: JSON.stringify(body) });
  const best = { keyword: Math.max(0, ...result.hits.map((h) => h.parts.keyword || 0)) };
  const rows = result.hits.map((hit, i) => el("tr", { class: "clickable hit", "data-id": hit.record.id,
                                                      onclick: () => guarded(() => showRecord(hit.record.id)) },
    el("td", { class: "num", text: String(i + 1) }), el("td", { class: "num", text: hit.score.toFixed(4) }),
    el("td", { class: "text", text: clip(hit.record.text) }),
    el("td", { text: hit.record.kind + (hit.record.session_id ? ` · ${hit.record.session_id}` : "") }),
    el("td", {}, bars(hit, best))));
  $("search-results").replaceChildren(
    el("p", { class: "muted", text: `${result.hits.length} hits for “${result.query}”. Bars: dense = cosine similarity, ` +
              "keyword = BM25 relative to the best hit, fusion = their weighted mix, recency and importance adjust it." }),
    rows.length ? table(["#", "score", "text", "kind", "score parts"], rows) : el("p", { text: "Nothing matched." }));
}

// -- one record: history, links, forget ----------------------------------------------------------
async function showRecord(id) {
  const detail = await api(`${userPath()}/records/${id}`);
  const r = detail.record;
  const box = $("detail");
  const facts = [["id", r.id], ["kind", r.kind + (r.kind === "message" ? ` (${r.role})` : "")],
                 ["session", r.session_id || "–"], ["said", when(r.timestamp)], ["written", when(r.created_at)],
                 ["importance", r.importance.toFixed(2)], ["times seen", String(r.times_seen)],
                 ["key", r.key || "–"], ["superseded by", r.superseded_by || "–"],
                 ["expires", r.expires_at ? when(r.expires_at) : "never"],
                 ["metadata", JSON.stringify(r.metadata)]];
  const history = detail.history.map((h) => el("tr", {}, el("td", { text: when(h.at) }), el("td", { text: h.event }),
    el("td", { class: "text", text: h.text }), el("td", { class: "mono", text: h.other_id || "" })));
  const links = detail.links.map((l) => el("tr", { class: "clickable", onclick: () => guarded(() => showRecord(l.record.id)) },
    el("td", { text: l.direction === "out" ? "→" : "←" }), el("td", { text: l.relation }),
    el("td", { class: "num", text: l.strength.toFixed(2) }), el("td", { class: "text", text: clip(l.record.text) })));
  const forget = el("button", { type: "button", class: "danger", text: "Forget this record…", "data-testid": "forget",
                                disabled: state.readOnly, title: state.readOnly ? "the server is read-only" : null,
                                onclick: () => guarded(() => confirmForget(r)) });
  box.replaceChildren(
    el("h2", { text: "Record" }),
    el("p", { class: "text", "data-testid": "record-text", text: r.text }),
    table(["field", "value"], facts.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { class: "mono", text: v })))),
    el("h3", { text: "History" }),
    history.length ? table(["when", "event", "text", "other"], history) : el("p", { class: "muted", text: "Nothing happened to it since it was written." }),
    el("h3", { text: "Links" }),
    links.length ? table(["", "relation", "strength", "text"], links) : el("p", { class: "muted", text: "No links." }),
    forget);
  show("detail");
  box.scrollIntoView({ block: "start" });
}

function confirmForget(record) {
  const dialog = $("confirm");
  $("confirm-text").textContent = `Forget “${clip(record.text, 120)}”? It is removed from every store and cannot be undone.`;
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "ok") return;
    guarded(async () => {
      await api(`${userPath()}/records/${record.id}`, { method: "DELETE" });
      for (const row of $("search-results").querySelectorAll("tr[data-id]")) {
        if (row.dataset.id === record.id) row.remove();  // a forgotten record leaves the results too
      }
      $("detail").replaceChildren(el("p", { "data-testid": "forgotten", text: `Forgot record ${record.id}.` }));
      await Promise.all([loadStats(), loadUsers(0), loadSessions(0),
                         state.session ? selectSession(state.session).catch(() => show("session", false)) : loadMemories(0)]);
      show("detail");
    });
  };
  dialog.showModal();
}

// -- start ----------------------------------------------------------------------------------------
function start() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("agent-memory-key", $("key-input").value);
    show("key-form", false);
    guarded(boot);
  });
  $("search-form").addEventListener("submit", (event) => guarded(() => search(event)));
  $("user-memories").addEventListener("click", () => guarded(async () => {
    state.session = null;
    show("session", false);
    for (const li of $("sessions").children) li.classList.remove("active");
    await loadMemories(0);
  }));
  guarded(boot);
}

async function boot() {
  await Promise.all([loadStats(), loadUsers(0)]);
}

document.addEventListener("DOMContentLoaded", start);
