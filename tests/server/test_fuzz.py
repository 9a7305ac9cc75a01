"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis + Hypothesis).

Every generated request goes over HTTP to a real uvicorn server. For each one: no 5xx, the
response matches the OpenAPI document (status code, content type, schema), no record of another
user in the answer, and a refused request (4xx) leaves the store exactly as it was. Requests are
generated valid (positive) and invalid (negative), with free user ids and with the seeded users and
record ids, so scoped reads and cross-user forgets are tried on real data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.validation import check_id
from agent_memory_plugins.errors import InvalidIdError

from .support import AUTH, Running, running, seed

schemathesis = pytest.importorskip("schemathesis", reason="the fuzz test needs schemathesis (dev group)")
from schemathesis import GenerationMode  # noqa: E402

POSITIVE_EXAMPLES = 40
NEGATIVE_EXAMPLES = 25
REFUSED_EXAMPLES = 5
MIN_REQUESTS = 1000


@dataclass
class Tally:
    """What the fuzzing sent and got back."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[Running, dict[str, str]]]:
    """A seeded store without a background worker (nothing changes it but requests), served."""
    core = MemoryCore(window_messages=4, fold_batch=2, background=False)
    ids = seed(core)
    with running(core) as live:
        yield live, ids
    core.close()


def fingerprint(core: MemoryCore, users: set[str]) -> tuple[int, list[Any]]:
    """Rows the SQLite engine has written so far, and every record of ``users``."""
    written: int = core.store._db.total_changes  # type: ignore[attr-defined]  # the one connection's write count
    return written, [core.export(user_id=user) for user in sorted(users)]


def storable(user_id: str) -> bool:
    """Whether the store could hold records of this user id."""
    try:
        check_id(user_id, "user_id")
    except InvalidIdError:
        return False
    return True


def user_ids_in(answer: Any) -> set[str]:
    """Every ``user_id`` anywhere in a JSON answer."""
    found: set[str] = set()
    if isinstance(answer, dict):
        if isinstance(answer.get("user_id"), str):
            found.add(answer["user_id"])
        for value in answer.values():
            found |= user_ids_in(value)
    elif isinstance(answer, list):
        for value in answer:
            found |= user_ids_in(value)
    return found


def strategies(operation: Any, mode: GenerationMode, ids: dict[str, str], headers: dict[str, str]) -> Any:
    """Cases for ``operation``: free ids, and the seeded users with real record ids (Bob's path with
    Alice's ids: a cross-user read or forget that must find nothing)."""
    names = operation.path_parameters
    options = [operation.as_strategy(generation_mode=mode, headers=headers)]
    if "user_id" in {p.name for p in names} and mode is GenerationMode.POSITIVE:
        fixed: list[dict[str, str]] = [{"user_id": "bob"}]
        if operation.method.upper() != "DELETE":
            fixed.append({"user_id": "alice"})
        for params in fixed:
            wanted = dict(params)
            if "session_id" in {p.name for p in names}:
                wanted["session_id"] = "trip"
            if "memory_id" in {p.name for p in names}:
                wanted["memory_id"] = ids["hiking"] if params["user_id"] == "bob" else ids["austin"]
            options.append(operation.as_strategy(generation_mode=mode, path_parameters=wanted, headers=headers))
    return st.one_of(options)


def fuzz(live: Running, ids: dict[str, str], mode: GenerationMode, examples: int, tally: Tally,
         headers: dict[str, str], expect: int | None = None, methods: tuple[str, ...] | None = None) -> None:
    """Send ``examples`` generated requests per operation and check each answer."""
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()
        if methods is not None and (operation.method.upper() not in methods or operation.path.endswith("/search")):
            continue  # only the writes (a search is a POST that reads)

        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=strategies(operation, mode, ids, headers))
        def check(case: Any) -> None:
            owner = (case.path_parameters or {}).get("user_id")
            owner = unquote(owner) if isinstance(owner, str) else None  # path parameters come URL-encoded
            watched = {"alice", "bob"} | ({owner} if owner is not None and storable(owner) else set())
            before = fingerprint(live.core, watched)
            response = case.call(base_url=live.url, headers=headers)
            tally.count(response.status_code)
            where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            assert response.status_code < 500, where
            if expect is not None:
                assert response.status_code == expect, where
            case.validate_response(response, headers=headers)
            if response.status_code >= 400:
                assert fingerprint(live.core, watched) == before, f"a refused request changed the store: {where}"
            elif isinstance(owner, str):
                assert user_ids_in(response.json()) <= {owner}, f"another user's record in the answer: {where}"

        try:
            check()
        except Unsatisfiable:  # nothing of it can be made invalid but the key (the wrong-key pass sends that)
            assert mode is GenerationMode.NEGATIVE, operation.path


def test_a_thousand_generated_requests_find_no_500_no_leak_and_no_write_by_refusals(
    fuzzed: tuple[Running, dict[str, str]],
) -> None:
    live, ids = fuzzed
    tally = Tally()
    fuzz(live, ids, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, tally, AUTH)
    fuzz(live, ids, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, tally, AUTH)
    fuzz(live, ids, GenerationMode.POSITIVE, REFUSED_EXAMPLES, tally, {"Authorization": "Bearer not-the-key"}, 401)
    with running(live.core, read_only=True) as read_only:
        fuzz(read_only, ids, GenerationMode.POSITIVE, POSITIVE_EXAMPLES // 2, tally, AUTH, 403, ("POST", "DELETE"))
    print(f"\nfuzzing: {tally.requests} requests, statuses {dict(sorted(tally.statuses.items()))}")
    assert tally.requests >= MIN_REQUESTS
    assert sum(n for status, n in tally.statuses.items() if 200 <= status < 300) >= 200  # not only refusals
    assert live.core.get(ids["austin"], user_id="alice").text == "I moved to Austin"  # Bob never forgot it
