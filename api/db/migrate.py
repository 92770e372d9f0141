"""Run Alembic migrations programmatically (`museed db upgrade`), with the URL from settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic Config pointing at the project's migrations and `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (creates the SQLite file's directory if needed)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision`."""
    command.downgrade(alembic_config(url), revision)


def current_heads(url: str) -> set[str]:
    """Revision(s) the database is at."""
    from alembic.runtime.migration import MigrationContext

    from api.db.session import get_engine

    with get_engine(url).connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def include_object_for(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic `include_object` hook for `dialect`: model indexes declared `.ddl_if(dialect=...)` for another
    database (the PostgreSQL-only trigram index) are not expected to exist there."""

    def include(obj: Any, _name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        if type_ == "index" and not reflected and ddl_if is not None and ddl_if.dialect is not None:
            wanted = (ddl_if.dialect,) if isinstance(ddl_if.dialect, str) else tuple(ddl_if.dialect)
            return dialect in wanted
        return True

    return include
