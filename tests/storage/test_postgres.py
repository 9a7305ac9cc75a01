"""What the PostgreSQL engine adds to the contract: leases for many instances, migrations under a
lock, reconnecting after a restart, no password anywhere, TLS options, compaction after forget."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import psycopg
import pytest

from agent_memory_plugins.core.storage import Filters, SQLiteRecordStore
from agent_memory_plugins.core.storage.postgres import PostgresRecordStore
from agent_memory_plugins.core.storage.postgres.schema import SCHEMA_VERSION
from agent_memory_plugins.errors import StoreUnavailableError, StoreVersionError
from postgres_cluster import PASSWORD, Unavailable, cluster, database_url

from .engines import LAYOUT, TURNS, add, chat, drain_context, drain_outbox, fact

pytestmark = pytest.mark.sqlite_only  # engine tests of their own: not run again by engine_matrix


@pytest.fixture
def url() -> str:
    try:
        return database_url()
    except Unavailable as error:
        pytest.skip(str(error))


def test_both_engines_give_the_same_keyword_scores(url: str) -> None:
    conversation = [
        "I adopted a grey cat called Pixel last spring", "Cats are great, mine sleeps all day",
        "We hiked the Alps in June, the cat stayed with my sister", "Café crème in Genève, naïvely cheap!",
        "My sister's dogs chase every cat they see", "Running shoes again: the running club meets at six",
    ]
    stores = [SQLiteRecordStore(None), PostgresRecordStore(url)]
    try:
        for store in stores:
            store.open_context_index(TURNS, LAYOUT)
            chat(store, "s1", conversation)
            chat(store, "b1", [*conversation[::-1], "cats cats cats"], user="bob")
            add(store, fact("f1", "The user's sister lives in Geneve and owns two dogs"))
            drain_outbox(store)
            drain_context(store)
        for words in (["cat"], ["sister", "dogs"], ["geneve", "cafe"], ["running", "cats", "june"]):
            for weight in (0.0, 0.5):
                sqlite, postgres = (dict(store.keyword_candidates(words, Filters("alice"), 20, weight))
                                    for store in stores)
                assert sqlite, words
                assert postgres.keys() == sqlite.keys(), words
                for record_id, score in sqlite.items():
                    assert postgres[record_id] == pytest.approx(score, rel=1e-6), (words, weight, record_id)
    finally:
        for store in stores:
            store.close()


def test_a_claim_keeps_other_instances_off_its_items_until_its_lease_runs_out(url: str) -> None:
    first = PostgresRecordStore(url, lease_seconds=1.0)
    second = PostgresRecordStore(url, lease_seconds=1.0)
    first.open_context_index(TURNS, LAYOUT)
    try:
        chat(first, "s1", [f"turn {n}" for n in range(6)])
        claimed = first.claim_outbox(4)
        assert len(claimed) == 4
        rest = second.claim_outbox(10)
        assert len(rest) == 2
        assert first.claim_outbox(10) == claimed  # an instance may take its own claims again, not others'

        assert not {item.seq for item in claimed} & {item.seq for item in rest}  # never the same item twice at once
        assert second.claimed_elsewhere(max(item.seq for item in claimed)) >= 4
        time.sleep(1.2)  # the first instance "died": its lease runs out and the items are taken over
        taken = second.claim_outbox(10)
        assert {item.seq for item in claimed} <= {item.seq for item in taken}
        second.ack_outbox([item.seq for item in taken])
        assert second.outbox_size() == 0
    finally:
        first.close()
        second.close()


def test_instances_starting_together_apply_each_migration_once(url: str) -> None:
    opened: list[PostgresRecordStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresRecordStore(url, pool_size=1))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        assert all(store.schema_version() == SCHEMA_VERSION for store in opened)
        with psycopg.connect(url) as connection:
            versions = connection.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
    finally:
        for store in opened:
            store.close()


def test_a_database_of_a_newer_release_is_refused_untouched(url: str) -> None:
    PostgresRecordStore(url).close()
    with psycopg.connect(url) as connection:
        connection.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, 'future')",
                           (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreVersionError, match="upgrade agent-memory-plugins"):
        PostgresRecordStore(url)


def test_the_password_shows_in_no_repr_log_or_error(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = PostgresRecordStore(url)
    try:
        assert PASSWORD not in repr(store) and "***" in repr(store) and PASSWORD not in store.url
    finally:
        store.close()
    wrong = url.replace(PASSWORD, "not-the-password")
    with pytest.raises(StoreUnavailableError) as refused:
        PostgresRecordStore(wrong)
    assert "password authentication failed" in str(refused.value)
    assert "not-the-password" not in str(refused.value) and PASSWORD not in str(refused.value)
    assert PASSWORD not in caplog.text and "not-the-password" not in caplog.text


def test_url_options_reach_libpq(url: str) -> None:
    store = PostgresRecordStore(url + "?sslmode=disable&application_name=amp-test")
    store.close()
    with pytest.raises(StoreUnavailableError, match=r"(?i)ssl"):  # the test server has no TLS: require is refused
        PostgresRecordStore(url + "?sslmode=require")


def test_after_a_restart_of_the_server_the_store_goes_on_and_lost_nothing(url: str) -> None:
    if cluster().data_dir is None:
        pytest.skip("the server of AGENT_MEMORY_TEST_DATABASE_URL is not ours to restart")
    store = PostgresRecordStore(url)
    try:
        ids = chat(store, "s1", ["before the restart"])
        cluster().restart()
        assert set(store.get(ids, "alice")) == set(ids)  # the pool replaces its broken connections
        later = chat(store, "s2", ["after the restart"])
        assert set(store.get(ids + later, "alice")) == set(ids + later)
    finally:
        store.close()


def test_compacting_after_forget_leaves_the_text_in_no_table_file(url: str) -> None:
    found = cluster()
    if found.data_dir is None:
        pytest.skip("the files of AGENT_MEMORY_TEST_DATABASE_URL's server are not readable here")
    secret = "zanzibar-quokka-7731 is my bank pin"
    store = PostgresRecordStore(url)
    store.open_context_index(TURNS, LAYOUT)
    try:
        add(store, fact("f1", secret), fact("f2", "an ordinary fact"))
        store.queue_context(["f1", "f2"])
        while (batch := store.claim_context(100)) is not None:
            store.finish_context(batch)
        database = url.rsplit("/", 1)[1]
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")
            oid = connection.execute("SELECT oid FROM pg_database WHERE datname = %s", (database,)).fetchone()[0]
        assert _files_holding(found.data_dir / "base" / str(oid), b"zanzibar")  # the test can fail
        store.forget(["f1"], [])
        assert store.purge_pending()
        store.compact(vacuum=True)
        assert not store.purge_pending()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")
        assert _files_holding(found.data_dir / "base" / str(oid), b"zanzibar") == []
        assert "f2" in store.get(["f2"], "alice")
    finally:
        store.close()


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    return [path.name for path in folder.iterdir() if path.is_file() and needle in path.read_bytes()]
