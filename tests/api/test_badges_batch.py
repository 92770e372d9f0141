"""Badge evaluation reads in one statement: which badges are held and the counts of the others (SQLite and
PostgreSQL); each badge is still awarded once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from api.badges.repository import BadgeRepository
from api.badges.service import BadgeService
from api.db.models import Follow, Playlist, User
from api.db.session import session_factory
from api.users.repository import UserRepository


@contextmanager
def selects(session: Any) -> Iterator[list[str]]:
    """The SELECT statements `session`'s connection runs inside the block."""
    seen: list[str] = []
    engine = session.get_bind()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_one_read_per_evaluation_and_each_badge_once(db_url: str) -> None:
    with session_factory(db_url).begin() as s:
        users = [User(email=f"b{i}@example.org", password_hash="x", display_name=f"b{i}") for i in range(7)]
        s.add_all(users)
        s.flush()
        me = users[0].id
        s.add(Playlist(title="p", visibility="public", owner_id=me))
        s.add_all(Follow(follower_id=me, followee_id=u.id) for u in users[1:6])
        s.flush()
        badges = BadgeService(BadgeRepository(s), UserRepository(s))
        with selects(s) as seen:
            new = badges.evaluate(me)
        assert sorted(new) == ["first_playlist", "first_public_playlist", "five_follows"]
        assert len(seen) == 1  # was 7: the awards, then one count per rule
        with selects(s) as seen:
            assert badges.evaluate(me) == []  # held badges are not awarded again
        assert len(seen) == 1
        assert sorted(b.badge for b in badges.repo.awarded(me)) == sorted(new)
        progress = badges.repo.progress(me, {"five_follows": "following", "first_upload": "uploads"})
        assert progress == {"five_follows": None, "first_upload": 0}


def test_a_badge_two_requests_award_at_once_is_held_once(db_url: str) -> None:
    """Two requests evaluating one user's badges both find a badge new; the later insert loses on the primary key
    inside a savepoint, so its request goes on (it was a 500 under the overload profile on PostgreSQL)."""
    factory = session_factory(db_url)
    with factory.begin() as s:
        user = User(email=f"race-{id(s)}@example.org", password_hash="x", display_name="race")
        s.add(user)
        s.flush()
        me = user.id
        s.add(Playlist(title="p", visibility="private", owner_id=me))
    with factory.begin() as first:
        assert BadgeService(BadgeRepository(first), UserRepository(first)).evaluate(me) == ["first_playlist"]
    with factory.begin() as second:
        # the second request read the awards before the first committed, so it still finds the badge missing
        repo = BadgeRepository(second)
        assert repo.award(me, "first_playlist") is False
        second.add(Playlist(title="after", visibility="private", owner_id=me))  # the transaction goes on
    with factory() as s:
        assert [b.badge for b in BadgeRepository(s).awarded(me)] == ["first_playlist"]
        assert s.query(Playlist).filter_by(owner_id=me).count() == 2
