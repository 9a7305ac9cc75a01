"""Run a test folder's tests on both record-store engines: SQLite and PostgreSQL.

A conftest that imports :func:`record_engine` runs each of its tests twice: as written (SQLite),
and with ``AGENT_MEMORY_DATABASE_URL`` naming a fresh database of the test cluster, so every
``MemoryCore`` the test opens keeps its records in PostgreSQL. Tests about SQLite itself (its
files, its locks) carry ``@pytest.mark.sqlite_only``. Without PostgreSQL the second run skips,
saying how to enable it.
"""

from __future__ import annotations

import pytest

from postgres_cluster import Unavailable, database_url


@pytest.fixture(autouse=True, params=["sqlite", "postgres"])
def record_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The engine this run of the test uses."""
    engine = str(request.param)
    if engine == "postgres":
        if request.node.get_closest_marker("sqlite_only"):
            pytest.skip("about SQLite itself")
        if request.node.get_closest_marker("any_engine"):
            pytest.skip("does not depend on the record store: runs once, on SQLite")
        try:
            monkeypatch.setenv("AGENT_MEMORY_DATABASE_URL", database_url())
        except Unavailable as error:
            pytest.skip(str(error))
    return engine
