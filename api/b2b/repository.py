"""SQL of the B2B domain: organisations, members, API keys and usage."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Integer, String, cast, func, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Session, joinedload
from sqlalchemy.sql.elements import ColumnElement

from api.db.models import (
    ApiKey,
    ApiUsage,
    Organisation,
    OrgMember,
    Playlist,
    PlaylistLike,
    Track,
    User,
)

#: (week start, label or None, playlists or likes, distinct listeners behind them) rows of a trend count
WeekCounts = list[tuple[date, str | None, int, int]]


def _as_date(value: Any) -> date:
    """A week start as the dialect returns it (PostgreSQL: a date; SQLite: 'YYYY-MM-DD') -> date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class B2BRepository:
    """The only place that touches the organisation, key and usage tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Organisation | OrgMember | ApiKey) -> None:
        """Stage a new row and flush (unique names and prefixes fail here)."""
        self.session.add(row)
        self.session.flush()

    def org(self, org_id: str) -> Organisation | None:
        """An organisation by id."""
        return self.session.get(Organisation, org_id)

    def org_by_name(self, name: str) -> Organisation | None:
        """An organisation by its unique name."""
        return self.session.scalars(select(Organisation).where(Organisation.name == name)).one_or_none()

    def orgs(self) -> list[Organisation]:
        """Every organisation, by name."""
        return list(self.session.scalars(select(Organisation).order_by(Organisation.name)))

    def member(self, org_id: str, user_id: str) -> OrgMember | None:
        """`user_id`'s membership of `org_id`."""
        return self.session.get(OrgMember, (org_id, user_id))

    def user_by_email(self, email: str) -> User | None:
        """A listener account by (lower-cased) email."""
        return self.session.scalars(select(User).where(User.email == email.lower())).one_or_none()

    def key_by_prefix(self, prefix: str) -> ApiKey | None:
        """A key by its public prefix."""
        return self.session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()

    def keys_of(self, org_id: str | None) -> list[ApiKey]:
        """An organisation's keys (every key when None), newest first."""
        q = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.prefix)
        if org_id is not None:
            q = q.where(ApiKey.org_id == org_id)
        return list(self.session.scalars(q))

    def record_usage(self, org_id: str, key_id: str, day: date, endpoint: str, count: int) -> None:
        """Add `count` to the (org, key, day, endpoint) row in one upsert (concurrent writers add up)."""
        values = {"org_id": org_id, "key_id": key_id, "day": day, "endpoint": endpoint, "count": count}
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(ApiUsage).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["org_id", "key_id", "day", "endpoint"],
            set_={"count": ApiUsage.count + stmt.excluded.count},
        )
        self.session.execute(stmt)

    def usage_of_org(self, org_id: str, since: date, until: date) -> list[tuple[date, str, int]]:
        """(day, endpoint, count) of `org_id`'s keys together, days `since`..`until` inclusive."""
        rows = self.session.execute(
            select(ApiUsage.day, ApiUsage.endpoint, func.sum(ApiUsage.count))
            .where(ApiUsage.org_id == org_id, ApiUsage.day >= since, ApiUsage.day <= until)
            .group_by(ApiUsage.day, ApiUsage.endpoint)
            .order_by(ApiUsage.day, ApiUsage.endpoint)
        )
        return [(d, e, int(n)) for d, e, n in rows]

    def key_usage_since(self, key_id: str, since: date, until: date) -> int:
        """Units a key used on days `since`..`until` inclusive."""
        n = self.session.scalar(
            select(func.coalesce(func.sum(ApiUsage.count), 0)).where(
                ApiUsage.key_id == key_id, ApiUsage.day >= since, ApiUsage.day <= until
            )
        )
        return int(n or 0)

    def track_exists(self, track_id: int) -> bool:
        """Whether the catalog holds `track_id`."""
        return self.session.get(Track, track_id) is not None

    def catalog_size(self) -> int:
        """Tracks in the catalog."""
        return int(self.session.scalar(select(func.count()).select_from(Track)) or 0)

    # -- trends: everything aggregated in SQL over a bounded [since, until) range of created_at ----------------

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _week_of(self, column: InstrumentedAttribute[datetime]) -> ColumnElement[Any]:
        """The Monday (UTC) of the ISO week of a timestamp column."""
        if self._dialect() == "postgresql":
            return cast(func.date_trunc("week", func.timezone("UTC", column)), Date)
        # SQLite keeps UTC text; "weekday 0" moves to the coming Sunday (or stays), -6 days is that week's Monday
        return func.date(column, "weekday 0", "-6 days")

    @staticmethod
    def _playlist_label(option: str, profile_key: str) -> ColumnElement[Any]:
        """A playlist's label on one axis: the filter it asked for, else what its seeds share (None: neither)."""
        return func.coalesce(
            Playlist.recipe[option].as_string(), Playlist.recipe[("seed_profile", profile_key)].as_string()
        )

    def playlists_created_by_week(self, option: str, profile_key: str, since: datetime, until: datetime) -> WeekCounts:
        """(week, label, playlists created, their distinct owners) for playlists created in [since, until), per ISO
        week and label."""
        week, label = self._week_of(Playlist.created_at), self._playlist_label(option, profile_key)
        rows = self.session.execute(
            select(week, label, func.count(), func.count(Playlist.owner_id.distinct()))
            .where(Playlist.created_at >= since, Playlist.created_at < until)
            .group_by(week, label)
        )
        return [(_as_date(w), None if v is None else str(v), int(n), int(u)) for w, v, n, u in rows]

    def playlist_likes_by_week(self, option: str, profile_key: str, since: datetime, until: datetime) -> WeekCounts:
        """(week, label, likes, distinct likers) for likes given in [since, until), per ISO week of the like and the
        liked playlist's label."""
        week, label = self._week_of(PlaylistLike.created_at), self._playlist_label(option, profile_key)
        rows = self.session.execute(
            select(week, label, func.count(), func.count(PlaylistLike.user_id.distinct()))
            .select_from(PlaylistLike)
            .join(Playlist, Playlist.id == PlaylistLike.playlist_id)
            .where(PlaylistLike.created_at >= since, PlaylistLike.created_at < until)
            .group_by(week, label)
        )
        return [(_as_date(w), None if v is None else str(v), int(n), int(u)) for w, v, n, u in rows]

    def top_seed_tracks(
        self, since: datetime, until: datetime, limit: int, min_listeners: int
    ) -> list[tuple[Track, int]]:
        """(track with its artist, playlists) of the seed tracks most used by playlists created in [since, until),
        each seeding playlists of at least `min_listeners` distinct owners."""
        if self._dialect() == "postgresql":
            elements = func.json_array_elements_text(Playlist.seed_track_ids).table_valued("value")
        else:
            elements = func.json_each(Playlist.seed_track_ids).table_valued("value")
        track_id = cast(cast(elements.c.value, String), Integer)
        uses = (
            select(track_id.label("track_id"), func.count().label("uses"))
            .select_from(Playlist)
            .join(elements, true())
            .where(Playlist.created_at >= since, Playlist.created_at < until)
            .group_by(track_id)
            .having(func.count(Playlist.owner_id.distinct()) >= min_listeners)
            .subquery()
        )
        rows = self.session.execute(
            select(Track, uses.c.uses)
            .options(joinedload(Track.artist))
            .join(uses, uses.c.track_id == Track.track_id)
            .order_by(uses.c.uses.desc(), Track.track_id)
            .limit(limit)
        )
        return [(t, int(n)) for t, n in rows]
