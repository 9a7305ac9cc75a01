"""Small edges a new user meets: a bad Chroma collection name, README signatures, packaging metadata."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from agent_memory_plugins import ConfigurationError, MemoryCore

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["", "-agent", "a..b", "x" * 483, "has space", "naïve"])
def test_a_bad_collection_name_is_a_clear_error_before_anything_is_created(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="chroma_collection must be 1 to 482"):
        MemoryCore(tmp_path / "m", chroma_collection=name)
    assert not (tmp_path / "m").exists()


@pytest.mark.sqlite_only  # one store per prefix (PostgreSQL: one database, so one store, for all three)
def test_a_good_collection_name_opens(tmp_path: Path) -> None:
    # a short prefix and the longest: a user's collection is "<prefix>-<store id>-<user digest>"
    for prefix in ("team.notes-2", "sd", "x" * 482):
        with MemoryCore(tmp_path / prefix[:20], chroma_collection=prefix, background=False) as memory:
            assert memory.index.name.startswith(f"{prefix}-")
            memory.add_message("s", "user", "the spare key is under the blue flowerpot")
            memory.flush()
            assert memory.search("where is the spare key", k=1)[0].explain["dense_rank"] == 1


@pytest.mark.parametrize("method", ["link", "related", "history"])
def test_readme_api_rows_name_every_argument(method: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("|") and f"`{method}(" in line)
    shown = re.search(rf"`{method}\(([^`]*)\)`", row)
    assert shown is not None
    for name in list(inspect.signature(getattr(MemoryCore, method)).parameters)[1:]:
        assert name in shown.group(1), f"README row of {method}() omits {name}"


def test_license_is_an_spdx_expression() -> None:
    lines = (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    assert 'license = "MIT"' in lines  # a TOML table ({ text = "MIT" }) is deprecated by setuptools
