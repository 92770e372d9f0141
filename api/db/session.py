"""Engine and session factory; the request's session owns the transaction (commit on success, roll back on error)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


#: seconds to open a PostgreSQL connection (libpq `connect_timeout`): an unreachable host fails fast, not in minutes
CONNECT_TIMEOUT_SECONDS = 3
#: ms of sent data left unacknowledged before the kernel drops a PostgreSQL connection (a lost host or network)
TCP_USER_TIMEOUT_MS = 5000
#: statements that open (or belong to) a SQLite write transaction: they wait for the process's write lane first
_SQLITE_WRITES: Final = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER")


class SQLiteWriteLane:
    """One SQLite writer at a time per process, each waiting at most `wait_seconds` for its turn.

    SQLite has one write lock per database file, and its own wait for it (the busy handler) sleeps in steps of up
    to 100 ms, so a writer can lose the lock again and again to later ones: under 50 listeners with no think time
    writes took up to 5.2 s (docs/BENCHMARKS.md). Here a writer waits on a lock that wakes it as soon as the
    holder is done, and gives up after `wait_seconds` with `sqlite3.OperationalError`, which the API answers with
    503 + `Retry-After` like any busy database. The lock is deliberately not first-come-first-served: a
    strict queue hands the lane to a waiter that must first get the interpreter back, and measured no better
    (docs/BENCHMARKS.md, "The embedded stack under overload, with SQLite's write lane").

    A connection takes the lane at its first writing statement (pysqlite opens the transaction right there, so
    the transaction's snapshot is taken after the lane is held, never before) and gives it back when its
    transaction commits or rolls back. Other processes on the same file (the CLI) still meet SQLite's own wait."""

    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._holder: int | None = None  # id() of the DBAPI connection holding the lane (set by it alone)

    def acquire(self, conn: object) -> None:
        """Wait for the lane for `conn` (a no-op when it holds it already)."""
        key = id(conn)
        if self._holder == key:
            return
        if not self._lock.acquire(timeout=self.wait_seconds):
            raise sqlite3.OperationalError(f"database is locked: no turn to write within {self.wait_seconds:g} s")
        self._holder = key

    def release(self, conn: object) -> None:
        """Give the lane back if `conn` holds it."""
        if self._holder == id(conn):
            self._holder = None
            self._lock.release()


def _sqlite_write_lane(engine: Engine, wait_seconds: float) -> SQLiteWriteLane:
    """Put `engine`'s writers in one `SQLiteWriteLane`: taken before a writing statement, given back after the
    DBAPI commit or rollback (the pool's reset on check-in included: it rolls back through the same dialect),
    or when the connection is invalidated or closed."""
    lane = SQLiteWriteLane(wait_seconds)

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:9].upper().startswith(_SQLITE_WRITES):
            lane.acquire(cursor.connection)

    @event.listens_for(engine, "invalidate")
    @event.listens_for(engine, "close")
    def _drop(dbapi_connection: Any, *_: Any) -> None:
        # a connection thrown away mid-transaction (invalidated after an error, or closed) is rolled back by
        # SQLite itself; its lane must not stay taken
        lane.release(dbapi_connection)

    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            lane.release(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            lane.release(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))

    # the dialect instance is this engine's own (create_engine makes one per engine), and so is its pool's
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    return lane


@lru_cache(maxsize=8)
def get_engine(url: str, statement_timeout_ms: int = 0, pool_timeout_seconds: float = 30.0) -> Engine:
    """One engine per URL (and timeouts) per process. On PostgreSQL a statement running past
    `statement_timeout_ms` (0: no limit) is cancelled by the server, and a request waits at most
    `pool_timeout_seconds` for a pooled connection; on SQLite writers queue in one `SQLiteWriteLane` and wait
    at most `pool_timeout_seconds` for their turn. All of these surface as the API's database 503."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        _sqlite_write_lane(engine, pool_timeout_seconds)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()
            # SQLite's own lower() folds ASCII only; library search must fold "Ø", "Ü", "Л" as PostgreSQL does
            dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)

        return engine
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    if statement_timeout_ms > 0:
        # lock waits count against the same budget: a request never queues behind a lock for longer
        connect_args["options"] = f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={statement_timeout_ms}"
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=pool_timeout_seconds,
        connect_args=connect_args,
    )


def session_factory(
    url: str, statement_timeout_ms: int = 0, pool_timeout_seconds: float = 30.0
) -> sessionmaker[Session]:
    """A sessionmaker bound to the engine of `url` (timeouts as in `get_engine`)."""
    return sessionmaker(bind=get_engine(url, statement_timeout_ms, pool_timeout_seconds), expire_on_commit=False)


@contextmanager
def transaction(
    factory: sessionmaker[Session], keeps_changes: Callable[[BaseException], bool] | None = None
) -> Iterator[Session]:
    """A session whose work is committed when the block succeeds and rolled back when it raises (committed all
    the same when `keeps_changes(error)` says the failure must keep what was done)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        if keeps_changes is not None and keeps_changes(exc):
            session.commit()
        else:
            session.rollback()
        raise
    finally:
        session.close()


def insert_once(session: Session, row: Any, key: tuple[Any, ...] | None = None) -> bool:
    """Insert `row` unless a row with its primary key exists; True when this call inserted it. With `key`, look
    first (a SELECT; without, the caller already knows it is missing). A concurrent insert of the same row (two
    requests racing past the check) loses quietly on the primary key, in a savepoint, so the rest of the
    transaction stands."""
    if key is not None and session.get(type(row), key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True
