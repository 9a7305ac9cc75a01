"""Shared fixtures. Everything runs offline against the real SQLite, Chroma and model."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
for _name in list(os.environ):  # a developer's own settings must not change test outcomes
    if _name.startswith("AGENT_MEMORY_") and not _name.startswith("AGENT_MEMORY_TEST_"):  # test knobs stay
        del os.environ[_name]

import tempfile  # noqa: E402

# the ONNX export of the default model: made once per test run, never in the developer's own cache
os.environ["AGENT_MEMORY_MODEL_CACHE"] = tempfile.mkdtemp(prefix="amp-model-cache-")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from agent_memory_plugins import MemoryCore  # noqa: E402


@pytest.fixture
def memory() -> Iterator[MemoryCore]:
    """An in-memory core with the real default embedder."""
    core = MemoryCore(window_messages=6, fold_batch=2)
    yield core
    core.close()


@pytest.fixture
def unfolded() -> Iterator[MemoryCore]:
    """A core whose worker never runs: nothing is folded until ``flush`` (window 6, fold_batch 10)."""
    core = MemoryCore(window_messages=6, fold_batch=10, background=False)
    yield core
    core.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A folder for an on-disk store."""
    return tmp_path / "store"
