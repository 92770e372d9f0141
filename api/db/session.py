"""Engine and session factory; the request's session owns the transaction (commit on success, roll back on error)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


#: seconds to open a PostgreSQL connection (libpq `connect_timeout`): an unreachable host fails fast, not in minutes
CONNECT_TIMEOUT_SECONDS = 3
#: ms of sent data left unacknowledged before the kernel drops a PostgreSQL connection (a lost host or network)
TCP_USER_TIMEOUT_MS = 5000


@lru_cache(maxsize=8)
def get_engine(url: str, statement_timeout_ms: int = 0, pool_timeout_seconds: float = 30.0) -> Engine:
    """One engine per URL (and timeouts) per process. On PostgreSQL a statement running past
    `statement_timeout_ms` (0: no limit) is cancelled by the server, and a request waits at most
    `pool_timeout_seconds` for a pooled connection; both surface as the API's database 503."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

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
