"""Stored public tastes (`user_tastes`): one row per listener, rewritten by every write to their playlists (the
playlist service's), read by social's "people with similar taste".

A playlist's embedding is the unit mean of its tracks' vectors; a listener's public taste is the unit mean of
their public playlists' embeddings, kept as float32 bytes so "people with similar taste" reads one small row per
listener instead of every public playlist. Readers keep all tastes as one matrix per process and database, and
reload it only when the table changed: each change draws a new random `stamp`, so `(count, sum of stamps)` is a
one-scan version that also catches late commits and deletions (a timestamp maximum would miss both)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.models import Playlist, User, UserTaste
from api.playlists.recommend import unit_mean


def taste_bytes(vector: Sequence[float] | np.ndarray | None) -> bytes | None:
    """A taste vector as stored (float32 bytes); None stays None."""
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def public_taste(embeddings: Sequence[Any]) -> tuple[bytes | None, int, int]:
    """(stored taste, n_public, n_stale) of one listener from their public playlists' embeddings (None: not
    computed yet)."""
    vectors = [np.asarray(e, dtype=np.float32) for e in embeddings if e is not None]
    return taste_bytes(unit_mean(vectors)), len(embeddings), len(embeddings) - len(vectors)


@dataclass(frozen=True)
class TasteMatrix:
    """Every stored public taste of one size: row i of `matrix` (float32) is the taste of `user_ids[i]`."""

    user_ids: list[str]
    matrix: np.ndarray
    row_of: dict[str, int] = field(repr=False)

    @classmethod
    def of(cls, user_ids: list[str], matrix: np.ndarray) -> TasteMatrix:
        return cls(user_ids=user_ids, matrix=matrix, row_of={uid: i for i, uid in enumerate(user_ids)})


@dataclass(frozen=True)
class _Cached:
    version: tuple[int, int]
    stamps: dict[str, int]  # user id -> stamp of the taste held
    groups: dict[int, TasteMatrix]  # by vector size in bytes


#: per database URL
_CACHE: dict[str, _Cached] = {}
_CACHE_LOCK = threading.Lock()
#: IN-list size when fetching changed rows; past half the table a full read is cheaper
_FETCH_BATCH = 1000


def _new_stamp(old: int | None) -> int:
    stamp = secrets.randbits(31)
    while stamp == old:
        stamp = secrets.randbits(31)
    return stamp


class TasteRepository:
    """The only place that touches `user_tastes`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def refresh(self, user_id: str) -> UserTaste | None:
        """Recompute `user_id`'s row from their public playlists (call after any change to their playlists' set,
        visibility or embeddings, in the same transaction); None when the user does not exist.

        The row is locked first (FOR UPDATE on PostgreSQL; the user's row, FOR NO KEY UPDATE, when the listener has
        no taste row yet), so two concurrent writes to one listener's playlists recompute one after the other and
        the later one sees the earlier one's playlists. Locking the taste row itself reads it fresh in the same
        statement (a row lock waits, then returns the newest committed version): two reads, not three."""
        self.session.flush()
        locked = select(UserTaste).where(UserTaste.user_id == user_id).with_for_update()
        row = self.session.scalars(locked.execution_options(populate_existing=True)).one_or_none()
        if row is None:
            user = self.session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
            if user.first() is None:
                return None
            # a concurrent first write may have made the row while this one waited for the user's lock
            row = self.session.scalars(locked.execution_options(populate_existing=True)).one_or_none()
        embeddings = list(
            self.session.scalars(
                select(Playlist.embedding).where(Playlist.owner_id == user_id, Playlist.visibility == "public")
            )
        )
        values = public_taste(embeddings)
        if row is None:
            row = UserTaste(user_id=user_id)
            self.session.add(row)
        elif (row.public_taste, row.n_public, row.n_stale) == values:
            return row  # unchanged: readers' caches stay valid
        row.public_taste, row.n_public, row.n_stale = values
        row.stamp = _new_stamp(row.stamp)
        self.session.flush()
        return row

    def version(self) -> tuple[int, int]:
        """(rows, sum of stamps): changes whenever any row is added, changed or deleted."""
        count, total = self.session.execute(
            select(func.count(), func.coalesce(func.sum(UserTaste.stamp), 0)).select_from(UserTaste)
        ).one()
        return int(count), int(total)

    def matrices(self) -> dict[int, TasteMatrix]:
        """Every stored public taste, grouped by vector size in bytes (tastes of different encoders do not mix).

        Held per process and database: reused while the table's version stays the same; after a change only the
        rows whose stamp changed are read again. The version is read before the rows, so the held tastes are
        never older than the version they are filed under (and tastes a rolled-back transaction saw carry stamps
        that never commit, so the next reader reads those rows again)."""
        conn = self.session.connection()
        key = conn.engine.url.render_as_string(hide_password=True)
        version = self.version()
        cached = _CACHE.get(key)
        if cached is not None and cached.version == version:
            return cached.groups
        table = UserTaste.__table__
        has_taste = table.c.public_taste.is_not(None)
        # the one full scan after a change: 10k+ small rows, read as plain tuples (SQLAlchemy's rows cost 5x)
        cursor = conn.connection.cursor()
        try:
            cursor.execute("SELECT user_id, stamp FROM user_tastes WHERE public_taste IS NOT NULL")
            current: dict[str, int] = dict(cursor.fetchall())
        finally:
            cursor.close()
        held = cached.stamps if cached is not None else {}
        changed = {uid for uid, _ in current.items() - held.items()}
        fetch = select(table.c.user_id, table.c.stamp, table.c.public_taste).where(has_taste)
        if 2 * len(changed) > len(current):
            rows = list(conn.execute(fetch).tuples())
        else:
            rows, ordered = [], sorted(changed)
            for start in range(0, len(ordered), _FETCH_BATCH):
                rows += conn.execute(fetch.where(table.c.user_id.in_(ordered[start : start + _FETCH_BATCH]))).tuples()
        fresh = {uid: (stamp, bytes(blob)) for uid, stamp, blob in rows if uid in changed or held.get(uid) != stamp}
        # held rows not to keep: changed (or changed again since `current` was read), or without a taste now
        gone = changed | fresh.keys() | (held.keys() - current.keys())
        stamps = dict(current)
        for uid in changed - fresh.keys():
            del stamps[uid]
        stamps.update({uid: stamp for uid, (stamp, _) in fresh.items()})
        new_by_size: dict[int, dict[str, bytes]] = {}
        for uid, (_, blob) in fresh.items():
            new_by_size.setdefault(len(blob), {})[uid] = blob
        groups = {}
        for size, group in (cached.groups if cached is not None else {}).items():
            new = new_by_size.pop(size, {})
            dropped = {uid for uid in gone if uid in group.row_of}
            if dropped == new.keys():  # only rows replaced in place (the usual write): patch a copy
                matrix = group.matrix.copy() if new else group.matrix
                for uid, blob in new.items():
                    matrix[group.row_of[uid]] = np.frombuffer(blob, dtype=np.float32)
                groups[size] = TasteMatrix(group.user_ids, matrix, group.row_of)
                continue
            keep = [uid for uid in group.user_ids if uid not in dropped]
            arrays = [group.matrix[[group.row_of[uid] for uid in keep]]]
            if new:
                arrays.append(np.frombuffer(b"".join(new.values()), dtype=np.float32).reshape(len(new), size // 4))
            if keep or new:
                groups[size] = TasteMatrix.of(keep + list(new), np.concatenate(arrays))
        for size, new in new_by_size.items():
            matrix = np.frombuffer(b"".join(new.values()), dtype=np.float32).reshape(len(new), size // 4)
            groups[size] = TasteMatrix.of(list(new), matrix)
        with _CACHE_LOCK:
            _CACHE[key] = _Cached(version, stamps, groups)
        return groups

    def public_counts(self, user_ids: list[str]) -> dict[str, int]:
        """Public playlists per user."""
        if not user_ids:
            return {}
        rows = self.session.execute(
            select(UserTaste.user_id, UserTaste.n_public).where(UserTaste.user_id.in_(user_ids))
        )
        return {uid: int(n) for uid, n in rows}

    def stale_owners(self, except_id: str) -> list[str]:
        """Listeners (but `except_id`) with public playlists whose embedding is not computed yet."""
        return list(
            self.session.scalars(
                select(UserTaste.user_id)
                .where(UserTaste.n_stale > 0, UserTaste.user_id != except_id)
                .order_by(UserTaste.user_id)
            )
        )
