"""The JSON API through an HTTP client against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.cli import main
from agent_memory_plugins.errors import ConfigurationError
from agent_memory_plugins.server import check_bind, create_app, serve_in_thread

from .support import AUTH, KEY, Running, free_port, running

READS = ["/api/stats", "/api/users", "/api/users/alice/sessions", "/api/users/alice/stats",
         "/api/users/alice/sessions/trip", "/api/users/alice/sessions/trip/messages",
         "/api/users/alice/sessions/trip/window", "/api/users/alice/sessions/trip/summary",
         "/api/users/alice/sessions/trip/context", "/api/users/alice/records"]


def test_every_api_route_needs_the_key_and_the_dashboard_and_schema_do_not(server: Running) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert "/api/users/{user_id}/search" in schema["paths"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [(method, path) for path, item in schema["paths"].items() for method in item]
    before = [server.core.export(user_id=user) for user in ("alice", "bob")]
    assert all(path.startswith("/api/") for _, path in operations) and len(operations) >= 17
    with server.client(key=None) as anonymous, server.client(key="wrong-key-0000") as wrong:
        for method, path in operations:
            url = path.replace("{user_id}", "alice").replace("{session_id}", "trip").replace("{memory_id}", "0" * 32)
            for client in (anonymous, wrong):
                answer = client.request(method.upper(), url, json={})
                assert answer.status_code == 401, (method, url, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer"
    assert [server.core.export(user_id=user) for user in ("alice", "bob")] == before  # refused: nothing changed
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "<title>agent-memory dashboard</title>" in page.text
    assert httpx.get(server.url + "/static/dashboard.js").status_code == 200
    with server.client() as client:
        for url in READS:
            assert client.get(url).status_code == 200, url


def test_users_and_sessions_come_with_their_counts(server: Running) -> None:
    with server.client() as client:
        users = client.get("/api/users").json()
        sessions = client.get("/api/users/alice/sessions").json()
    by_user = {item["user_id"]: item["counts"] for item in users["items"]}
    assert users["total"] == 2 and users["next_offset"] is None
    assert by_user["alice"]["sessions"] == 2 and by_user["alice"]["messages"] == 12
    assert by_user["alice"]["memories"] == 3 and by_user["bob"]["messages"] == 1
    trip = {item["session_id"]: item["counts"] for item in sessions["items"]}["trip"]
    assert trip["messages"] == 10 and trip["folded"] == 4 and trip["summaries"] == 1 and trip["memories"] == 2


def test_a_session_timeline_shows_window_summary_and_each_message_state(server: Running) -> None:
    with server.client() as client:
        detail = client.get("/api/users/alice/sessions/trip").json()
        messages = client.get("/api/users/alice/sessions/trip/messages", params={"limit": 4}).json()
        rest = client.get("/api/users/alice/sessions/trip/messages", params={"offset": 4, "limit": 50}).json()
        window = client.get("/api/users/alice/sessions/trip/window").json()
        summary = client.get("/api/users/alice/sessions/trip/summary").json()
    assert detail["counts"] == {"messages": 10, "window": 6, "summary": 4, "pending": 0, "memories": 2}
    assert [m["text"] for m in detail["window"]] == [m["text"] for m in window]
    assert window[-1]["text"] == "Congratulations on the new job!" and detail["window_messages"] == 6
    assert summary["record"]["covers"] == 4 and "hiking trip" in summary["text"]
    assert detail["summary"] == summary and detail["pending_index"] == 0
    states = [m["state"] for m in messages["items"] + rest["items"]]
    assert states == ["summary"] * 4 + ["window"] * 6
    assert messages["next_offset"] == 4 and rest["next_offset"] is None
    assert messages["items"][0]["text"] == "I just got back from a hiking trip in the Rockies"


def test_adding_messages_and_remembering_are_durable_and_scoped(server: Running) -> None:
    body = {"messages": [{"role": "user", "content": "I adopted a cat named Miso", "metadata": {"mood": "happy"}},
                         {"role": "assistant", "content": "Miso is a lovely name!",
                          "timestamp": "2024-05-01T10:00:00Z"}]}
    with server.client() as client:
        added = client.post("/api/users/carol/sessions/pets/messages", json=body)
        fact = client.post("/api/users/carol/memories", json={"text": "Carol's cat is called Miso",
                                                              "kind": "fact", "importance": 0.8})
        window = client.get("/api/users/carol/sessions/pets/window").json()
    assert added.status_code == 201 and fact.status_code == 201
    assert [r["user_id"] for r in added.json()] == ["carol", "carol"]
    assert added.json()[0]["metadata"] == {"mood": "happy"}
    assert added.json()[1]["timestamp"].startswith("2024-05-01T10:00:00")
    assert fact.json()["importance"] == 0.8 and fact.json()["kind"] == "fact"
    # time order: the back-dated reply comes first, so the window (which opens on a user turn) leaves it out
    assert [r["text"] for r in window] == ["I adopted a cat named Miso"]
    stored = server.core.records(user_id="carol")
    assert {r.text for r in stored} == {"I adopted a cat named Miso", "Miso is a lovely name!",
                                        "Carol's cat is called Miso"}
    assert server.core.records(user_id="alice", kinds="fact", session_id="pets") == []


def test_search_explains_each_hit_and_never_crosses_users(server: Running, ids: dict[str, str]) -> None:
    with server.client() as client:
        alice = client.post("/api/users/alice/search", json={"query": "where does the user live?", "k": 5}).json()
        bob = client.post("/api/users/bob/search", json={"query": "where does the user live?", "k": 5}).json()
        facts = client.post("/api/users/alice/search", json={"query": "hiking", "kinds": ["fact"]}).json()
    assert alice["user_id"] == "alice" and alice["hits"]
    assert {hit["record"]["user_id"] for hit in alice["hits"]} == {"alice"}
    assert {hit["record"]["user_id"] for hit in bob["hits"]} == {"bob"}
    top = alice["hits"][0]
    assert set(top["parts"]) == {"dense", "keyword", "fusion", "recency", "importance", "time", "question"}
    assert top["parts"]["fusion"] == top["explain"]["fusion"] and 0 < top["parts"]["recency"] <= 1
    assert top["score"] == pytest.approx(top["explain"]["score"])
    assert [hit["score"] for hit in alice["hits"]] == sorted((hit["score"] for hit in alice["hits"]), reverse=True)
    by_id = {hit["record"]["id"]: hit for hit in alice["hits"]}
    if ids["denver"] in by_id:
        assert by_id[ids["denver"]]["explain"]["superseded_by"] == ids["austin"]
    assert {hit["record"]["kind"] for hit in facts["hits"]} == {"fact"}


def test_context_assembles_summary_recall_and_window(server: Running) -> None:
    with server.client() as client:
        context = client.get("/api/users/alice/sessions/trip/context",
                             params={"query": "where do I live?", "k": 3}).json()
        tight = client.get("/api/users/alice/sessions/trip/context", params={"max_tokens": 30, "k": 0}).json()
    assert "hiking trip" in context["summary"] and len(context["window"]) == 6
    assert context["recalled"] and {h["record"]["user_id"] for h in context["recalled"]} == {"alice"}
    window_ids = {r["id"] for r in context["window"]}
    assert not window_ids & {h["record"]["id"] for h in context["recalled"]}
    assert "Recent conversation:" in context["rendered"]
    assert tight["tokens"] <= 30 and tight["recalled"] == [] and tight["dropped"] > 0


def test_a_memory_shows_its_history_links_and_supersession(server: Running, ids: dict[str, str]) -> None:
    with server.client() as client:
        hiking = client.get(f"/api/users/alice/records/{ids['hiking']}").json()
        denver = client.get(f"/api/users/alice/records/{ids['denver']}").json()
        history = client.get(f"/api/users/alice/records/{ids['hiking']}/history").json()
        as_bob = client.get(f"/api/users/bob/records/{ids['hiking']}")
    assert hiking["record"]["times_seen"] == 2 and [e["event"] for e in history] == ["seen"]
    assert hiking["history"] == history
    assert [(link["record"]["id"], link["relation"], link["direction"]) for link in hiking["links"]] == [
        (ids["austin"], "related", "out")]
    assert denver["record"]["superseded_by"] == ids["austin"]
    assert [e["event"] for e in denver["history"]] == ["superseded_by"]
    assert as_bob.status_code == 404 and ids["hiking"] in as_bob.json()["detail"]


def test_records_page_through_a_user_without_gaps_or_repeats(server: Running) -> None:
    seen: list[str] = []
    offset: int | None = 0
    with server.client() as client:
        while offset is not None:
            page = client.get("/api/users/alice/records", params={"offset": offset, "limit": 4}).json()
            assert page["total"] == 16 and len(page["items"]) <= 4
            seen += [item["id"] for item in page["items"]]
            offset = page["next_offset"]
        memories = client.get("/api/users/alice/records", params=[("kind", "fact"), ("kind", "event")]).json()
        newest = client.get("/api/users/alice/records", params={"newest_first": True, "limit": 1}).json()
    assert seen == [r.id for r in server.core.records(user_id="alice")]
    assert len(set(seen)) == 16
    assert memories["total"] == 3 and {r["kind"] for r in memories["items"]} == {"fact"}
    assert newest["items"][0]["id"] == server.core.records(user_id="alice", newest_first=True, limit=1)[0].id


def test_forget_removes_a_record_a_session_and_a_user_but_only_ones_own(server: Running, ids: dict[str, str]) -> None:
    core = server.core
    with server.client() as client:
        assert client.delete(f"/api/users/alice/records/{ids['bob_fact']}").status_code == 404
        assert core.get(ids["bob_fact"], user_id="bob").text.startswith("Bob owns")
        assert client.delete(f"/api/users/alice/records/{ids['hiking']}").json() == {"removed": 1}
        assert client.get(f"/api/users/alice/records/{ids['hiking']}").status_code == 404
        assert client.delete(f"/api/users/alice/records/{ids['hiking']}").status_code == 404
        assert client.delete("/api/users/alice/sessions/cooking").json() == {"removed": 2}
        assert client.get("/api/users/alice/sessions/cooking").status_code == 404
        assert client.delete("/api/users/bob").json() == {"removed": 2}
    assert core.sessions(user_id="alice") == ["trip"] and core.records(user_id="bob") == []
    assert "hiking in the mountains" not in {h.record.text for h in core.search("hiking", user_id="alice", k=20)}


@pytest.mark.parametrize(("method", "url", "body", "field"), [
    ("post", "/api/users/alice/sessions/s/messages", {"messages": [{"role": "robot", "content": "hi"}]}, "role"),
    ("post", "/api/users/alice/sessions/s/messages", {"messages": [{"role": "user", "content": "   "}]}, "content"),
    ("post", "/api/users/alice/sessions/s/messages", {"messages": []}, "messages"),
    ("post", "/api/users/alice/sessions/s/messages", {"messages": [{"role": "user"}]}, "content"),
    ("post", "/api/users/alice/sessions/s/messages",
     {"messages": [{"role": "user", "content": "hi", "timestamp": "yesterday-ish"}]}, "timestamp"),
    ("post", "/api/users/alice/sessions/s/messages",
     {"messages": [{"role": "user", "content": "hi", "colour": "red"}]}, "colour"),
    ("post", "/api/users/alice/memories", {"text": "x", "importance": 1.5}, "importance"),
    ("post", "/api/users/alice/memories", {"text": "x", "kind": "message"}, "kind"),
    ("post", "/api/users/alice/search", {"query": "x", "k": 0}, "k"),
    ("post", "/api/users/alice/search", {"query": "x", "where": {"$bad": 1}}, "where"),
    ("post", "/api/users/alice/search", {"query": "x", "kinds": ["gossip"]}, "kinds"),
    ("get", "/api/users/alice/records?limit=0", None, "limit"),
    ("get", "/api/users/alice/records?offset=-1", None, "offset"),
    ("get", "/api/users/alice/records/not-an-id", None, "memory_id"),
    ("get", "/api/users/al%01ice/sessions", None, "user_id"),
    ("get", "/api/users/alice/sessions/trip/context?max_tokens=0", None, "max_tokens"),
])
def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(
    server: Running, method: str, url: str, body: object, field: str
) -> None:
    before = server.core.export(user_id="alice")
    with server.client() as client:
        answer = client.request(method.upper(), url, json=body)
    assert answer.status_code == 422, answer.text
    assert any(field in [str(part) for part in error["loc"]] for error in answer.json()["detail"]), answer.text
    assert server.core.export(user_id="alice") == before


def test_a_read_only_server_refuses_every_write_and_serves_reads(core: MemoryCore, ids: dict[str, str]) -> None:
    before = [core.export(user_id=user) for user in ("alice", "bob")]
    writes = [("POST", "/api/users/alice/sessions/trip/messages", {"messages": [{"role": "user", "content": "x"}]}),
              ("POST", "/api/users/alice/memories", {"text": "I like tea"}),
              ("PUT", "/api/users/alice/blocks/persona", {"text": "a climber"}),
              ("DELETE", f"/api/users/alice/records/{ids['hiking']}", None),
              ("DELETE", "/api/users/alice/sessions/trip", None), ("DELETE", "/api/users/alice", None)]
    with running(core, read_only=True) as live, live.client() as client:
        for method, url, body in writes:
            answer = client.request(method, url, json=body)
            assert answer.status_code == 403 and "read-only" in answer.json()["detail"], url
        assert client.get("/api/stats").json()["read_only"] is True
        assert client.post("/api/users/alice/search", json={"query": "hiking"}).status_code == 200
        for url in READS:
            assert client.get(url).status_code == 200, url
    assert [core.export(user_id=user) for user in ("alice", "bob")] == before


def test_a_server_without_a_key_is_open_on_loopback(core: MemoryCore) -> None:
    with running(core, api_key=None) as live, live.client(key=None) as client:
        assert client.get("/api/stats").json()["records"] == 0


def test_no_key_means_loopback_only() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind(host, None)
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.org"):
        with pytest.raises(ConfigurationError, match="without an API key"):
            check_bind(host, None)
        check_bind(host, KEY)
    with MemoryCore(background=False) as core:
        with pytest.raises(ConfigurationError, match="api_key"):
            create_app(core, api_key="short")
        with pytest.raises(ConfigurationError, match="without an API key"):
            serve_in_thread(core, host="0.0.0.0")


def test_serve_refuses_a_public_address_without_a_key_before_opening_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--path", str(tmp_path / "store"), "--host", "0.0.0.0"]) == 1
    assert "without an API key" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def test_agent_memory_serve_runs_the_api_and_dashboard(tmp_path: Path) -> None:
    """The real command in its own process: a key from the environment, a store on disk."""
    port = free_port()
    env = {**os.environ, "AGENT_MEMORY_API_KEY": KEY, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "agent_memory_plugins.cli", "serve", "--path", str(tmp_path / "store"),
         "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "agent-memory serve did not start"
            time.sleep(0.2)
        assert httpx.get(url + "/api/stats").status_code == 401
        added = httpx.post(url + "/api/users/u/sessions/s/messages", headers=AUTH,
                           json={"messages": [{"role": "user", "content": "served from disk"}]})
        assert added.status_code == 201
        assert httpx.get(url + "/api/users/u/sessions/s/window", headers=AUTH).json()[0]["text"] == "served from disk"
        assert httpx.get(url + "/").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=60)
    with MemoryCore(tmp_path / "store") as reopened:
        assert [r.text for r in reopened.messages("s", user_id="u")] == ["served from disk"]


def test_blocks_are_set_versioned_listed_and_scoped(server: Running) -> None:
    with server.client() as client:
        user = client.put("/api/users/alice/blocks/persona", json={"text": "Alice, a climber", "limit": 40})
        task = client.put("/api/users/alice/blocks/task", json={"text": "plan the trip", "session_id": "trip"})
        again = client.put("/api/users/alice/blocks/persona", json={"text": "Alice, a climber and cook"})
        listed = client.get("/api/users/alice/blocks", params={"session_id": "trip"}).json()
        alone = client.get("/api/users/alice/blocks").json()
        one = client.get("/api/users/alice/blocks/persona").json()
        history = client.get("/api/users/alice/blocks/persona/history").json()
        too_long = client.put("/api/users/alice/blocks/persona", json={"text": "x" * 41})
        bobs = client.get("/api/users/bob/blocks/persona")
        bad_name = client.put("/api/users/alice/blocks/9lives", json={"text": "no"})
    assert user.status_code == task.status_code == again.status_code == 200
    assert [(b["name"], b["session_id"]) for b in listed] == [("persona", None), ("task", "trip")]
    assert [b["name"] for b in alone] == ["persona"]
    assert one["text"] == "Alice, a climber and cook" and one["version"] == 2 and one["limit"] == 40
    assert [b["text"] for b in history] == ["Alice, a climber", "Alice, a climber and cook"]
    assert too_long.status_code == 422 and "persona" in str(too_long.json())  # over the limit: nothing changed
    assert server.core.get_block("persona", user_id="alice").version == 2
    assert bobs.status_code == 404  # another user's block of the same name is not there
    assert bad_name.status_code == 422 and "name" in str(bad_name.json())
