"""A pool of PostgreSQL connections shared by the engine's parts: transactions, reads, snapshots.

psycopg 3 with :class:`psycopg_pool.ConnectionPool`: every connection is checked before it is
handed out, so after a server restart the next call gets a fresh connection. A read that loses its
connection half-way is retried once on a new one. A write whose connection breaks raises
:class:`~agent_memory_plugins.errors.StoreUnavailableError` (it may or may not have committed; an
acknowledged write is never lost). The URL's password never appears in ``repr``, logs or errors.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ....errors import MissingDependencyError, StoreClosedError, StoreUnavailableError
from ..interface import RecordStore

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
"""Runs a read statement: ``query(sql, params) -> rows``."""

CONNECT_TIMEOUT = 10
"""Seconds to wait for a connection (to open one, or for one of the pool to be free)."""


def _psycopg() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise MissingDependencyError(
            "the PostgreSQL record store needs psycopg 3 and psycopg-pool: "
            "pip install 'agent-memory-plugins[postgres]'"
        ) from error
    return psycopg, psycopg_pool


def redact(url: str) -> str:
    """``url`` with its password (in the URL or as a ``password=`` option) replaced by ``***``."""
    psycopg, _ = _psycopg()
    try:
        options = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    user = options.get("user") or ""
    host = options.get("host") or "localhost"
    port = f":{options['port']}" if options.get("port") else ""
    secret = ":***" if options.get("password") else ""
    name = options.get("dbname") or ""
    return f"postgresql://{user}{secret}{'@' if user else ''}{host}{port}/{name}"


class PostgresConnection(RecordStore):
    """The pool and its plumbing. The engine's parts build on it, each implementing its share of
    :class:`RecordStore` (whose docstrings state each method's contract)."""

    def __init__(self, url: str, pool_size: int = 8) -> None:
        psycopg, psycopg_pool = _psycopg()
        self._psycopg = psycopg
        self.url = redact(url)
        """The database's URL without its password (safe to log and show)."""
        self._closed = False
        self._lock = threading.Lock()
        self.claimer = uuid.uuid4().hex
        """This instance's name on the work it claims (it may claim its own claims again)."""
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise StoreUnavailableError(f"the database URL {self.url} is not valid: {self._clean(error)}") from None
        self._pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, timeout=CONNECT_TIMEOUT,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            check=psycopg_pool.ConnectionPool.check_connection, name="agent-memory",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except psycopg_pool.PoolTimeout:
            self._pool.close()
            raise StoreUnavailableError(self._unreachable(url)) from None

    def location(self) -> str:
        self._check_open()
        return self.url

    def maintain(self) -> None:
        self._check_open()  # the server checkpoints and vacuums on its own, off every client's write path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _unreachable(self, url: str) -> str:
        """Why no connection could be made (the server's own words, never the password)."""
        try:
            self._psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
        except self._psycopg.Error as error:
            return f"cannot connect to the database at {self.url}: {self._clean(error)}"
        return f"cannot connect to the database at {self.url} within {CONNECT_TIMEOUT} s"

    def _clean(self, error: BaseException) -> str:
        return str(error).strip().replace("\n", " ")

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        self._check_open()
        try:
            with self._pool.connection() as connection:
                yield connection
        except self._psycopg.OperationalError as error:
            raise StoreUnavailableError(
                f"the database at {self.url} was unreachable or the connection broke: {self._clean(error)}"
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction, committed on success, rolled back on error. A connection that
        breaks raises :class:`StoreUnavailableError` (the write may not have been stored)."""
        with self._connection() as connection, connection.transaction():
            yield connection

    @contextmanager
    def snapshot(self) -> Iterator[Query]:
        """Several reads that see one state of the database (a repeatable-read transaction)."""
        with self._connection() as connection, connection.transaction():
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

            def query(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                return list(connection.execute(sql, params).fetchall())

            yield query

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read statement; retried once on a fresh connection if the first one broke."""
        try:
            with self._connection() as connection:
                return list(connection.execute(sql, params).fetchall())
        except StoreUnavailableError:
            with self._connection() as connection:
                return list(connection.execute(sql, params).fetchall())

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this MemoryCore is closed; create a new one")

    def close(self) -> None:
        """Close the pool's connections (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pool.close()


def reader(connection: Any) -> Query:
    """A :data:`Query` over a connection inside an open transaction."""
    return lambda sql, params: list(connection.execute(sql, params).fetchall())
