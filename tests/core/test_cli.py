"""Every `agent-memory` command against a real store in a temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_commands_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "store")
    jsonl = tmp_path / "chat.jsonl"
    lines = [{"session_id": "trip", "role": "user", "content": "I fly to Nairobi on 3 June."},
             {"session_id": "trip", "role": "assistant", "content": "Have a great flight!"},
             {"session_id": "work", "role": "user", "content": "My standup is at 9:30.", "user_id": "eve"}]
    jsonl.write_text("\n".join(json.dumps(line) for line in lines))
    assert run(capsys, "import", str(jsonl), "--path", path, "--json")[1].strip() == '{"imported": 3}'
    status, out, _ = run(capsys, "add", "Prefers aisle seats", "--path", path)
    assert status == 0 and len(out.strip()) == 32
    status, out, _ = run(capsys, "search", "when do I fly to Nairobi", "--path", path, "--json")
    hits = json.loads(out)
    assert hits[0]["record"]["text"] == "I fly to Nairobi on 3 June." and "explain" in hits[0]
    assert all(h["record"]["user_id"] == "default" for h in hits)
    assert "trip" in run(capsys, "sessions", "--path", path)[1]
    status, out, _ = run(capsys, "show", "trip", "--path", path)
    assert status == 0 and "Nairobi" in out
    stats = json.loads(run(capsys, "stats", "--path", path, "--json")[1])
    assert stats["records"] == 4 and stats["users"] == 2
    exported = [json.loads(line) for line in run(capsys, "export", "--path", path, "--user", "eve")[1].splitlines()]
    assert [r["text"] for r in exported] == ["My standup is at 9:30."]
    assert json.loads(run(capsys, "reindex", "--path", path, "--json")[1]) == {"reindexed": 4}
    assert run(capsys, "forget", "--all", "--user", "eve", "--path", path)[1].strip() == "removed 1 records"
    assert json.loads(run(capsys, "stats", "--path", path, "--json", "--user", "eve")[1])["records"] == 0


def test_locomo_style_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conversation = [{
        "sample_id": "conv-x", "conversation": {
            "speaker_a": "Kim", "speaker_b": "Lou",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [{"speaker": "Kim", "dia_id": "D1:1", "text": "I adopted a puppy!"},
                          {"speaker": "Lou", "dia_id": "D1:2", "text": "Cute!", "blip_caption": "a small dog"}],
        },
    }]
    source = tmp_path / "locomo.json"
    source.write_text(json.dumps(conversation))
    path = str(tmp_path / "store")
    assert run(capsys, "import", str(source), "--path", path)[0] == 0
    out = json.loads(run(capsys, "show", "session_1", "--user", "conv-x", "--path", path, "--json")[1])
    texts = [r["text"] for r in out["window"]]
    assert texts == ["Kim: I adopted a puppy!", "Lou: Cute! [shared an image: a small dog]"]
    assert out["window"][0]["metadata"]["dia_id"] == "D1:1"
    assert out["window"][0]["timestamp"].startswith("2023-05-08T13:56")


def test_errors_are_one_line_with_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "store")
    status, _, err = run(capsys, "forget", "--path", path)
    assert status == 2 and "forget needs" in err
    MemoryCore(path, background=False).close()
    status, _, err = run(capsys, "forget", "--id", "not-an-id", "--path", path)
    assert status == 2 and "memory_id" in err
    status, _, err = run(capsys, "show", "nope", "--path", path)
    assert status == 2 and "no session" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    status, _, err = run(capsys, "import", str(bad), "--path", path)
    assert status == 2 and "bad.jsonl:1" in err


def test_cleanup_reports_then_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "store")
    old = "2020-01-01T00:00:00Z"
    with MemoryCore(path) as memory:
        memory.add_message("s", "user", "ok", user_id="eve", timestamp=old, importance=0.1)
        memory.add_message("s", "user", "My passport expires in June", user_id="eve", timestamp=old, importance=0.9)
        memory.add_message("s", "user", "ok", user_id="bob", timestamp=old, importance=0.1)
    status, out, _ = run(capsys, "cleanup", "--older-than", "30d", "--min-importance", "0.5", "--path", path)
    assert status == 0 and out.startswith("would remove 2 records (2 message; 0 expired)")
    status, out, _ = run(capsys, "cleanup", "--older-than", "30d", "--min-importance", "0.5", "--user", "eve",
                         "--apply", "--json", "--path", path)
    assert status == 0 and json.loads(out)["removed"] == 1
    with MemoryCore(path) as memory:
        assert [r.text for r in memory.export(user_id="eve")] == ["My passport expires in June"]
        assert len(memory.export(user_id="bob")) == 1
    status, _, err = run(capsys, "cleanup", "--older-than", "soon", "--path", path)
    assert status == 2 and "older_than" in err


def test_every_command_has_help() -> None:
    commands = ("demo", "stats", "sessions", "show", "search", "add", "import", "export", "forget", "cleanup",
                "reindex")
    for command in commands:
        result = subprocess.run([sys.executable, "-m", "agent_memory_plugins.cli", command, "--help"],
                                capture_output=True, text=True)
        assert result.returncode == 0 and "--path" in result.stdout, command


def test_demo_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "demo", "--path", str(tmp_path / "demo"))
    assert status == 0
    assert "Running summary" in out and "Recall for maya" in out and "Luis" in out.split("Reopening")[1]
    assert "paella" not in out.split("Recall for maya")[1].split("(Sam's")[0]


@pytest.mark.sqlite_only  # reads SQLite's own tables or files
def test_store_path_from_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "from-env"
    monkeypatch.setenv("AGENT_MEMORY_PATH", str(store))
    source = tmp_path / "chat.jsonl"
    source.write_text("\n".join(json.dumps({"session_id": "s", "role": "user", "content": f"line {i}",
                                            "user_id": "kim"}) for i in range(3)))
    status, out, err = run(capsys, "import", str(source))
    assert status == 0 and out.strip() == "imported 3 messages"
    assert "importing" in err and "3/3" in err  # the progress bar, on stderr only
    assert (store / "memory.db").is_file()
    sessions = json.loads(run(capsys, "sessions", "--user", "kim", "--json")[1])
    assert sessions == [{"session_id": "s", "messages": 3}]
    other = tmp_path / "flag-wins"
    assert run(capsys, "add", "a note", "--path", str(other))[0] == 0
    assert (other / "memory.db").is_file()
    assert json.loads(run(capsys, "stats", "--path", str(other), "--json")[1])["records"] == 1


def test_global_options_before_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "store")
    assert run(capsys, "--path", path, "--user", "eve", "add", "I keep bees")[0] == 0
    status, out, _ = run(capsys, "--path", path, "--json", "stats")
    assert status == 0 and json.loads(out)["records"] == 1
    status, out, _ = run(capsys, "--path", path, "search", "bees", "--user", "eve", "--json")
    assert status == 0 and json.loads(out)[0]["record"]["text"] == "I keep bees"


@pytest.mark.sqlite_only  # about store folders (a PostgreSQL store lives in its database)
def test_a_mistyped_path_is_not_a_new_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "agent_memroy"
    for command in (["stats"], ["sessions"], ["search", "x"], ["export"], ["show", "s"], ["users"],
                    ["forget", "--all"], ["cleanup"]):
        status, _, err = run(capsys, *command, "--path", str(typo))
        assert status == 2 and "no store at" in err and "--path" in err, command
    assert not typo.exists()


def test_users_and_hints_when_the_default_user_has_nothing(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "store")
    with MemoryCore(path, background=False) as memory:
        memory.add_message("trip", "user", "I fly to Nairobi", user_id="alice")
        memory.remember("Bob likes tea", user_id="bob")
    status, out, _ = run(capsys, "users", "--path", path, "--json")
    assert status == 0 and json.loads(out) == [
        {"user_id": "alice", "records": 1, "sessions": 1}, {"user_id": "bob", "records": 1, "sessions": 0},
    ]
    for command in (["sessions"], ["search", "Nairobi"], ["export"]):
        status, _, err = run(capsys, *command, "--path", path)
        assert status == 0 and "users in this store: alice, bob" in err, command
    status, out, _ = run(capsys, "forget", "--all", "--path", path)
    assert status == 0 and "removed 0 records" in out and "alice, bob" in out
    status, _, err = run(capsys, "sessions", "--user", "alice", "--path", path)
    assert status == 0 and "users in this store" not in err


def test_add_and_search_do_not_load_the_model_unless_asked(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "store")
    assert run(capsys, "add", "I keep bees in Ghent", "--path", path)[0] == 0
    with MemoryCore(path, background=False) as memory:
        assert memory.stats()["pending_index"] > 0  # queued, not embedded
    status, out, err = run(capsys, "search", "Ghent", "--path", path, "--json")
    assert status == 0 and json.loads(out)[0]["record"]["text"] == "I keep bees in Ghent"
    assert "keyword search" in err and "dense_score" not in json.loads(out)[0]["explain"]
    status, out, err = run(capsys, "search", "where are my insects?", "--wait-model", "--path", path, "--json")
    assert status == 0 and json.loads(out)[0]["explain"].get("dense_score") is not None
    with MemoryCore(path, background=False) as memory:
        assert memory.stats()["pending_index"] == 0
