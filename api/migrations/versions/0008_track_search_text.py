"""library search column: tracks.search_text, trigram-indexed on PostgreSQL

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _search_text(title: str | None, artist: str | None, album: str | None) -> str:
    # frozen copy of api.db.models.track_search_text as of this revision
    return " ".join(part.lower() for part in (title, artist, album) if part)


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    bind = op.get_bind()
    tracks = sa.table(
        "tracks",
        sa.column("track_id", sa.Integer),
        sa.column("title", sa.String),
        sa.column("artist_id", sa.Integer),
        sa.column("album_title", sa.String),
        sa.column("search_text", sa.Text),
    )
    artists = sa.table("artists", sa.column("artist_id", sa.Integer), sa.column("name", sa.String))
    rows = bind.execute(
        sa.select(tracks.c.track_id, tracks.c.title, artists.c.name, tracks.c.album_title).join(
            artists, artists.c.artist_id == tracks.c.artist_id
        )
    ).all()
    update = sa.update(tracks).where(tracks.c.track_id == sa.bindparam("tid")).values(search_text=sa.bindparam("st"))
    for i in range(0, len(rows), BATCH):
        bind.execute(update, [{"tid": r[0], "st": _search_text(r[1], r[2], r[3])} for r in rows[i : i + BATCH]])
    if bind.dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL >= 13): the database owner may create it
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_tracks_search_text_trgm",
            "tracks",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tracks_search_text_trgm", table_name="tracks")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("search_text")
