"""Every kind of bad input raises a specific AgentMemoryError and leaves stored data as it was."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_memory_plugins import (
    AgentMemoryError,
    ConfigurationError,
    ContentTooLargeError,
    InvalidContentError,
    InvalidFilterError,
    InvalidIdError,
    InvalidInputError,
    InvalidKindError,
    InvalidMetadataError,
    InvalidRoleError,
    InvalidTimestampError,
    MemoryCore,
    StoreClosedError,
    StoreInUseError,
)


@pytest.fixture
def small() -> Any:
    core = MemoryCore(max_content_chars=1000, max_metadata_bytes=200, background=False)
    core.add_message("s1", "user", "the one good message")
    yield core
    core.close()


CASES: list[tuple[str, type[AgentMemoryError], Callable[[MemoryCore], object]]] = [
    ("empty content", InvalidContentError, lambda m: m.add_message("s1", "user", "")),
    ("blank content", InvalidContentError, lambda m: m.add_message("s1", "user", " \n\t ")),
    ("bytes content", InvalidContentError, lambda m: m.add_message("s1", "user", b"hi")),  # type: ignore[arg-type]
    ("None content", InvalidContentError, lambda m: m.add_message("s1", "user", None)),  # type: ignore[arg-type]
    ("lone surrogate", InvalidContentError, lambda m: m.add_message("s1", "user", "bad \ud800 text")),
    ("oversized", ContentTooLargeError, lambda m: m.add_message("s1", "user", "x" * 1001)),
    ("unknown role", InvalidRoleError, lambda m: m.add_message("s1", "robot", "hello")),
    ("role not str", InvalidRoleError, lambda m: m.add_message("s1", 3, "hello")),  # type: ignore[arg-type]
    ("empty session", InvalidIdError, lambda m: m.add_message("", "user", "hello")),
    ("session with NUL", InvalidIdError, lambda m: m.add_message("a\x00b", "user", "hello")),
    ("long session", InvalidIdError, lambda m: m.add_message("s" * 300, "user", "hello")),
    ("user not str", InvalidIdError, lambda m: m.add_message("s1", "user", "hello", user_id=5)),  # type: ignore[arg-type]
    ("metadata not dict", InvalidMetadataError, lambda m: m.add_message("s1", "user", "x", metadata=[1])),  # type: ignore[arg-type]
    ("metadata set", InvalidMetadataError, lambda m: m.add_message("s1", "user", "x", metadata={"a": {1}})),
    ("metadata NaN", InvalidMetadataError, lambda m: m.add_message("s1", "user", "x", metadata={"a": math.nan})),
    ("metadata int key", InvalidMetadataError, lambda m: m.add_message("s1", "user", "x", metadata={1: "a"})),
    ("metadata tuple", InvalidMetadataError, lambda m: m.add_message("s1", "user", "x", metadata={"a": (1, 2)})),
    ("metadata object", InvalidMetadataError, lambda m: m.add_message("s1", "user", "x", metadata={"a": object()})),
    ("metadata too big", InvalidMetadataError, lambda m: m.add_message("s1", "user", "x", metadata={"a": "y" * 300})),
    ("bad timestamp text", InvalidTimestampError, lambda m: m.add_message("s1", "user", "x", timestamp="yesterday")),
    ("bad timestamp type", InvalidTimestampError, lambda m: m.add_message("s1", "user", "x", timestamp=[2020])),
    ("timestamp out of range", InvalidTimestampError, lambda m: m.add_message("s1", "user", "x", timestamp=1e20)),
    ("importance above 1", InvalidInputError, lambda m: m.add_message("s1", "user", "x", importance=1.5)),
    ("unknown kind", InvalidKindError, lambda m: m.remember("x", kind="opinion")),
    ("remember a message kind", InvalidKindError, lambda m: m.remember("x", kind="summary")),
    ("batch with one bad message", InvalidRoleError,
     lambda m: m.add_messages("s1", [{"role": "user", "content": "fine"}, {"role": "nobody", "content": "x"}])),
    ("batch item not dict", InvalidInputError, lambda m: m.add_messages("s1", ["hello"])),  # type: ignore[list-item]
    ("malformed memory id", InvalidIdError, lambda m: m.forget(memory_id="../../etc")),
    ("get malformed id", InvalidIdError, lambda m: m.get("xyz")),
    ("forget nothing", InvalidInputError, lambda m: m.forget()),
    ("empty query", InvalidContentError, lambda m: m.search("")),
    ("bad k", InvalidInputError, lambda m: m.search("x", k=0)),
    ("bad kinds", InvalidKindError, lambda m: m.search("x", kinds=["nope"])),
    ("bad where operator", InvalidFilterError, lambda m: m.search("x", where={"a": {"$regex": "."}})),
    ("bad where value", InvalidFilterError, lambda m: m.search("x", where={"a": {"b": 1}})),
    ("bad budget", InvalidInputError, lambda m: m.context("s1", "x", max_tokens=-5)),
]


@pytest.mark.parametrize(("name", "error", "call"), CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_and_changes_nothing(
    small: MemoryCore, name: str, error: type[AgentMemoryError], call: Callable[[MemoryCore], object]
) -> None:
    before = small.export()
    with pytest.raises(error) as raised:
        call(small)
    assert str(raised.value)  # the message says what to fix
    assert small.export() == before


@pytest.mark.parametrize(
    "text",
    ["emoji 🙂👩‍👩‍👧 mix", "RTL שלום עולם مرحبا", "NUL \x00 inside", "zero\u200bwidth", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "e\u0301"],
)
def test_unicode_round_trips(small: MemoryCore, text: str) -> None:
    record = small.add_message("s1", "user", text, metadata={"text": text})
    stored = small.get(record.id)
    assert stored.text == text and stored.metadata == {"text": text}
    small.flush()
    assert record.id in {h.record.id for h in small.search(text, k=10)}


def test_closed_store_refuses_every_call() -> None:
    core = MemoryCore(background=False)
    core.close()
    for call in (
        lambda: core.add_message("s1", "user", "x"),
        lambda: core.search("x"),
        lambda: core.window("s1"),
        lambda: core.flush(),
    ):
        with pytest.raises(StoreClosedError, match="closed"):
            call()
    core.close()  # closing twice is harmless


def test_bad_settings_are_named() -> None:
    with pytest.raises(ConfigurationError, match="window_messages"):
        MemoryCore(window_messages=0)
    with pytest.raises(ConfigurationError, match="unknown setting"):
        MemoryCore(windw_messages=3)
    with pytest.raises(ConfigurationError, match="embedder"):
        MemoryCore(embedder=42)


def test_environment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_MEMORY_WINDOW_MESSAGES", "3")
    monkeypatch.setenv("AGENT_MEMORY_RECENCY_WEIGHT", "0.5")
    with MemoryCore(background=False) as core:
        assert core.settings.window_messages == 3 and core.settings.recency_weight == 0.5
    with MemoryCore(background=False, window_messages=7) as core:
        assert core.settings.window_messages == 7  # keyword beats environment
    monkeypatch.setenv("AGENT_MEMORY_WINDOW_MESSAGES", "many")
    with pytest.raises(ConfigurationError, match="AGENT_MEMORY_WINDOW_MESSAGES"):
        MemoryCore(background=False)


def test_second_open_of_embedded_store_with_other_settings_is_refused(store_path: Path) -> None:
    with MemoryCore(store_path, background=False), pytest.raises(StoreInUseError, match="chroma_url"):
        MemoryCore(store_path, background=False, window_messages=3)
    with MemoryCore(store_path, background=False) as again:  # released on close
        assert again.stats()["records"] == 0
