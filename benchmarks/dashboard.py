"""Load times of the dashboard and its API on a store of 100k records.

    python benchmarks/dashboard.py                  # 100k records (fill ~ a few minutes on 2 cores)
    python benchmarks/dashboard.py --records 10000  # smaller, quicker
    python benchmarks/dashboard.py --path DIR       # keep (or reuse) the filled store in DIR
    python benchmarks/dashboard.py --screenshot docs/images/dashboard.png

The store is filled through ``add_messages`` (sessions of 20 messages, 2,000 records per user, the
synthetic conversations of ``synthetic.py`` with stand-in vectors, as ``speed.py`` does) plus 20
remembered facts per user, and ``flush()`` indexes everything and folds each session's summary
(window of 8 messages). It is then reopened with the real model and served by a real uvicorn on
127.0.0.1 with an API key. Timed over HTTP, each the median and 95th percentile of ``--repeats``:
the API routes the dashboard calls (first and deep pages), then, where Chromium is installed, the
dashboard itself in headless Chromium: from navigation or click until the view is drawn.
Writes ``benchmarks/results/dashboard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import synthetic  # noqa: E402

RESULTS = Path(__file__).parent / "results"
KEY = "benchmark-key-0123456789"
CHROMIUM = "/usr/bin/chromium"
FACTS_PER_USER = 20
WINDOW = 8
CHUNK = 20_000


def fill(folder: str, size: int) -> dict[str, Any]:
    """Fill a store with ``size`` messages (plus facts), indexed and folded."""
    from speed import encoder, shared_model

    from agent_memory_plugins import MemoryCore

    raw = encoder(shared_model())

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(raw(texts), dtype=np.float32)

    pool = synthetic.Pool.build(2000, encode)
    embedder = synthetic.PrecomputedEmbedder("sentence-transformers/all-MiniLM-L6-v2", encode)
    start = time.perf_counter()
    with MemoryCore(folder, embedder=embedder, durability="normal", window_messages=WINDOW,
                    embedding_cache_size=CHUNK + 1000, index_batch_size=1000) as memory:
        for chunk in range(0, size, CHUNK):
            embedder.known = {}
            for user, session, messages, vectors in synthetic.conversations(pool, chunk, min(size, chunk + CHUNK)):
                embedder.known.update(zip((m["content"] for m in messages), vectors, strict=True))
                memory.add_messages(session, messages, user_id=user)
            memory.flush()
            print(f"  filled {min(size, chunk + CHUNK):,} messages ({time.perf_counter() - start:.0f} s)", flush=True)
        users = memory.users()
        for number, user in enumerate(users):
            for fact in synthetic.pool_sentences(FACTS_PER_USER, seed=number):
                memory.remember(fact, user_id=user)
        memory.flush()
        records = memory.store.count()
    return {"records": records, "users": len(users), "fill_s": round(time.perf_counter() - start, 1)}


def timed(call: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median and 95th percentile (ms) of ``repeats`` calls, after one warm-up call."""
    call()
    samples = []
    for _ in range(repeats):
        begin = time.perf_counter()
        call()
        samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1)}


def api_figures(url: str, repeats: int) -> dict[str, dict[str, float]]:
    """The API routes the dashboard calls, each timed over HTTP."""
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    user = client.get("/api/users", params={"limit": 1}).json()["items"][0]["user_id"]
    sessions = client.get(f"/api/users/{user}/sessions", params={"limit": 1}).json()
    session = sessions["items"][0]["session_id"]
    records_total = client.get(f"/api/users/{user}/records", params={"limit": 1}).json()["total"]
    memory = client.get(f"/api/users/{user}/records", params={"kind": "fact", "limit": 1}).json()["items"][0]["id"]
    base = f"/api/users/{user}"

    def get(path: str, **params: Any) -> Callable[[], Any]:
        def call() -> Any:
            answer = client.get(path, params=params)
            answer.raise_for_status()
            return answer

        return call

    def search() -> Any:
        answer = client.post(f"{base}/search", json={"query": "When is the trip to Lisbon?", "k": 8})
        answer.raise_for_status()
        return answer

    routes = {
        "GET / (dashboard page)": get("/"),
        "GET /api/stats": get("/api/stats"),
        "GET /api/users (first page)": get("/api/users", limit=25),
        "GET sessions of a user (first page)": get(f"{base}/sessions", limit=25),
        "GET a session (timeline: counts, summary, window)": get(f"{base}/sessions/{session}"),
        "GET a session's messages (page of 25)": get(f"{base}/sessions/{session}/messages", limit=25),
        "GET a session's timeline strip (newest 200)": get(f"{base}/sessions/{session}/messages", limit=200,
                                                          newest_first=True),
        "GET a user's memories (page of 25, with total)": get(f"{base}/records", kind=["fact", "event"], limit=25),
        "GET a user's records, first page": get(f"{base}/records", limit=25),
        "GET a user's records, last page": get(f"{base}/records", limit=25, offset=max(0, records_total - 25)),
        "GET a memory (history, links)": get(f"{base}/records/{memory}"),
        "POST search (k=8, explain)": search,
        "GET context (summary + recall + window)": get(f"{base}/sessions/{session}/context"),
    }
    return {name: timed(call, repeats) for name, call in routes.items()}


def browser_figures(url: str, repeats: int, screenshot: Path | None) -> dict[str, dict[str, float]]:
    """The dashboard in headless Chromium: each view from navigation or click until it is drawn."""
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    figures: dict[str, list[float]] = {"open the dashboard (stats + users)": [], "pick a user (sessions, memories)": [],
                                       "pick a session (timeline)": [], "search (score bars)": [],
                                       "open a memory (history, links)": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(f"sessionStorage.setItem('agent-memory-key', '{KEY}')")

        def clock(name: str, action: Callable[[], Any], ready: str) -> None:
            begin = time.perf_counter()
            action()
            page.wait_for_selector(ready)
            figures[name].append((time.perf_counter() - begin) * 1000)

        for _ in range(repeats + 1):
            clock("open the dashboard (stats + users)", lambda: page.goto(url), "#users li[data-user]")
            clock("pick a user (sessions, memories)", lambda: page.click("#users li[data-user]"),
                  "#sessions li[data-session]")
            clock("pick a session (timeline)", lambda: page.click("#sessions li[data-session]"),
                  "#messages tr[data-id]")
            page.fill("[data-testid=search-query]", "When is the trip to Lisbon?")
            clock("search (score bars)", lambda: page.click("#search-form button"), "tr.hit")
            clock("open a memory (history, links)", lambda: page.click("tr.hit"), "[data-testid=record-text]")
        if screenshot is not None:
            page.click("#sessions li[data-session]")
            page.wait_for_selector("#messages tr[data-id]")
            page.click("#search-form button")
            page.wait_for_selector("tr.hit")
            page.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    result = {}
    for name, samples in figures.items():
        kept = sorted(samples[1:])  # the first round warms up
        result[name] = {"median_ms": round(statistics.median(kept), 1),
                        "p95_ms": round(kept[min(len(kept) - 1, int(0.95 * len(kept)))], 1)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="messages to fill the store with")
    parser.add_argument("--path", help="store folder (kept; reused when it already holds records)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per figure")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the dashboard here")
    args = parser.parse_args()

    from agent_memory_plugins import MemoryCore
    from agent_memory_plugins.server import serve_in_thread

    folder = args.path or tempfile.mkdtemp(prefix="agent-memory-dashboard-")
    report: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                                         f"{platform.python_version()}"}
    try:
        with MemoryCore(folder, background=False) as probe:
            existing = probe.store.count()
        if existing:
            print(f"reusing the store in {folder} ({existing:,} records)")
            report["store"] = {"records": existing, "reused": True}
        else:
            print(f"filling {folder} with {args.records:,} messages ...")
            report["store"] = fill(folder, args.records)
        with MemoryCore(folder) as core:
            report["store"]["records"] = core.store.count()
            with serve_in_thread(core, api_key=KEY) as live:
                print(f"serving {report['store']['records']:,} records at {live.url}")
                report["api"] = api_figures(live.url, args.repeats)
                if os.path.exists(CHROMIUM):
                    report["browser"] = browser_figures(live.url, max(3, args.repeats // 4), args.screenshot)
                else:
                    print(f"no Chromium at {CHROMIUM}: browser figures skipped")
    finally:
        if not args.path:
            shutil.rmtree(folder, ignore_errors=True)
    for section in ("api", "browser"):
        for name, figure in report.get(section, {}).items():
            print(f"  {section:7}  {name:52}  median {figure['median_ms']:8.1f} ms   p95 {figure['p95_ms']:8.1f} ms")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'dashboard.json'}")


if __name__ == "__main__":
    main()
