"""Engine and session factory; the request's session owns the transaction (commit on success, roll back on error)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
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
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def session_factory(url: str) -> sessionmaker[Session]:
    """A sessionmaker bound to the engine of `url`."""
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


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
