"""`TasteRepository.refresh` under concurrent writes to one listener's playlists (PostgreSQL): the taste row is
locked and read in one statement, and a refresh that waited for another sees that one's playlists."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from api.db.models import Playlist, User, UserTaste
from api.db.session import session_factory
from api.playlists.taste import TasteRepository


def _playlist(owner: str, seed: int) -> Playlist:
    v = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    return Playlist(title=f"p{seed}", visibility="public", owner_id=owner, embedding=(v / np.linalg.norm(v)).tolist())


@pytest.mark.parametrize("existing_row", [False, True], ids=["first-write", "taste-row-exists"])
def test_a_refresh_that_waited_sees_the_other_writers_playlist(existing_row: bool, db_url: str) -> None:
    url = db_url
    if not url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's (SQLite serialises writers on the database)")
    factory = session_factory(url)
    with factory.begin() as s:
        user = User(email="taste@example.org", password_hash="x", display_name="t")
        s.add(user)
        s.flush()
        uid = user.id
        if existing_row:
            s.add(_playlist(uid, 0))
            s.flush()
            TasteRepository(s).refresh(uid)
    before = 1 if existing_row else 0
    first = factory()
    first.add(_playlist(uid, 1))
    TasteRepository(first).refresh(uid)  # holds the lock until it commits
    done = threading.Event()

    def second_writer() -> None:
        with factory.begin() as s:
            s.add(_playlist(uid, 2))
            TasteRepository(s).refresh(uid)  # waits for the first writer's lock
        done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.5)
    assert not done.is_set()  # blocked on the lock
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert done.is_set()
    with factory() as s:
        row = s.get(UserTaste, uid)
        assert row is not None and row.n_public == before + 2  # the later refresh saw both new playlists
