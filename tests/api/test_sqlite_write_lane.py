"""SQLite's write lane: one writer per process at a time, each waiting a bounded time, and
the lane always given back (commit, rollback, a failed statement, a connection returned to the pool)."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api.db.session import SQLiteWriteLane, get_engine, session_factory, transaction


@pytest.fixture()
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lane.sqlite'}"
    with get_engine(url, 0, 0.3).begin() as conn:
        conn.execute(text("CREATE TABLE rows (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)"))
    return url


def test_concurrent_writers_all_succeed_one_at_a_time(url: str) -> None:
    factory = session_factory(url, 0, 10.0)
    inside, most = 0, 0
    guard = threading.Lock()

    def write(i: int) -> None:
        nonlocal inside, most
        with transaction(factory) as s:
            s.execute(text("INSERT INTO rows (writer) VALUES (:i)"), {"i": i})
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.005)  # work inside the write transaction
            s.execute(text("UPDATE rows SET writer = writer WHERE writer = :i"), {"i": i})
            with guard:
                inside -= 1

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(write, range(64)))
    with factory() as s:
        assert s.scalar(text("SELECT count(*) FROM rows")) == 64
    assert most == 1  # never two write transactions of this process at once


def test_a_writer_whose_turn_does_not_come_fails_fast_and_the_lane_comes_back(url: str) -> None:
    factory = session_factory(url, 0, 0.3)
    holder = factory()
    holder.execute(text("INSERT INTO rows (writer) VALUES (1)"))  # holds the lane until it commits
    try:
        # readers never wait for the lane
        with factory() as reader:
            assert reader.scalar(text("SELECT count(*) FROM rows")) == 0
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="database is locked"), transaction(factory) as s:
            s.execute(text("INSERT INTO rows (writer) VALUES (2)"))
        assert time.perf_counter() - started < 2.0  # the lane's 0.3 s, not SQLite's 5-s lock wait
    finally:
        holder.commit()
        holder.close()
    with transaction(factory) as s:
        s.execute(text("INSERT INTO rows (writer) VALUES (3)"))
    with factory() as s:
        assert s.scalars(text("SELECT writer FROM rows ORDER BY id")).all() == [1, 3]


def test_rollback_a_failed_statement_and_a_closed_session_give_the_lane_back(url: str) -> None:
    factory = session_factory(url, 0, 0.3)
    with pytest.raises(RuntimeError), transaction(factory) as s:
        s.execute(text("INSERT INTO rows (writer) VALUES (1)"))
        raise RuntimeError("the request failed")
    with pytest.raises(OperationalError), transaction(factory) as s:
        s.execute(text("INSERT INTO no_such_table (x) VALUES (1)"))
    s = factory()
    s.execute(text("INSERT INTO rows (writer) VALUES (2)"))
    s.close()  # neither committed nor rolled back by the caller: the pool's reset rolls back
    with transaction(factory) as s:
        s.execute(text("INSERT INTO rows (writer) VALUES (4)"))
    with factory() as s:
        assert s.scalars(text("SELECT writer FROM rows")).all() == [4]


def test_an_invalidated_connection_gives_the_lane_back(url: str) -> None:
    factory = session_factory(url, 0, 0.3)
    s = factory()
    s.execute(text("INSERT INTO rows (writer) VALUES (1)"))
    s.connection().invalidate()  # e.g. after a disconnect error: the DBAPI connection is closed, not rolled back
    s.close()
    with transaction(factory) as again:
        again.execute(text("INSERT INTO rows (writer) VALUES (2)"))
    with factory() as check:
        assert check.scalars(text("SELECT writer FROM rows")).all() == [2]


def test_the_lane_is_held_by_one_connection_and_only_its_holder_gives_it_back() -> None:
    lane = SQLiteWriteLane(wait_seconds=0.1)
    first, second = object(), object()
    lane.acquire(first)
    lane.acquire(first)  # re-entrant: a transaction's later writes do not queue behind its first
    lane.release(second)  # not the holder: nothing happens
    with pytest.raises(sqlite3.OperationalError, match=r"no turn to write within 0\.1 s"):
        lane.acquire(second)
    woke = threading.Event()

    def wait() -> None:
        lane.acquire(second)
        woke.set()

    waiter = threading.Thread(target=wait)
    lane.wait_seconds = 5.0
    waiter.start()
    time.sleep(0.05)
    assert not woke.is_set()
    lane.release(first)
    assert woke.wait(1.0)  # woken as soon as the holder is done, not at the next poll
    waiter.join(1)
    lane.release(second)
    lane.acquire(first)
    lane.release(first)
