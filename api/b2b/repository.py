"""SQL of the B2B domain: organisations, members, API keys and usage."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api.db.models import ApiKey, ApiUsage, Organisation, OrgMember, Track, User


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
