"""Blocklists and recipes that refresh well: per-user and per-organisation blocked artists and tracks; tracks a
listener marked heard; a keep mark per playlist position; every track a playlist has served (so a refresh never
repeats one); and the playlist a fork was made from

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, owner column, owner table, owner key, item column, item table, item key)
_PAIR_TABLES = (
    ("user_blocked_artists", "user_id", "users", "id", "artist_id", "artists", "artist_id"),
    ("user_blocked_tracks", "user_id", "users", "id", "track_id", "tracks", "track_id"),
    ("org_blocked_artists", "org_id", "organisations", "id", "artist_id", "artists", "artist_id"),
    ("org_blocked_tracks", "org_id", "organisations", "id", "track_id", "tracks", "track_id"),
    ("heard_tracks", "user_id", "users", "id", "track_id", "tracks", "track_id"),
    ("playlist_served_tracks", "playlist_id", "playlists", "id", "track_id", "tracks", "track_id"),
)


def _pair_table(
    name: str, owner: str, owner_table: str, owner_key: str, item: str, item_table: str, item_key: str
) -> None:
    op.create_table(
        name,
        sa.Column(owner, sa.String(length=32), nullable=False),
        sa.Column(item, sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            [owner], [f"{owner_table}.{owner_key}"], name=op.f(f"fk_{name}_{owner}_{owner_table}"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            [item], [f"{item_table}.{item_key}"], name=op.f(f"fk_{name}_{item}_{item_table}"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(owner, item, name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_{item}"), name, [item], unique=False)


def upgrade() -> None:
    for spec in _PAIR_TABLES:
        _pair_table(*spec)
    with op.batch_alter_table("playlist_tracks") as batch:
        batch.add_column(sa.Column("kept", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("playlists") as batch:
        batch.add_column(sa.Column("forked_from_id", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            op.f("fk_playlists_forked_from_id_playlists"), "playlists", ["forked_from_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index(op.f("ix_playlists_forked_from_id"), ["forked_from_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("playlists") as batch:
        batch.drop_index(op.f("ix_playlists_forked_from_id"))
        batch.drop_constraint(op.f("fk_playlists_forked_from_id_playlists"), type_="foreignkey")
        batch.drop_column("forked_from_id")
    with op.batch_alter_table("playlist_tracks") as batch:
        batch.drop_column("kept")
    for name, _, _, _, item, _, _ in reversed(_PAIR_TABLES):
        op.drop_index(op.f(f"ix_{name}_{item}"), table_name=name)
        op.drop_table(name)
