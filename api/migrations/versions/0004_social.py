"""follows, playlist likes and saves

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_playlist_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("playlist_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["playlist_id"], ["playlists.id"], name=op.f(f"fk_{name}_playlist_id_playlists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f(f"fk_{name}_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "playlist_id", name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_playlist_id"), name, ["playlist_id"], unique=False)


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("follower_id", sa.String(length=32), nullable=False),
        sa.Column("followee_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["followee_id"], ["users.id"], name=op.f("fk_follows_followee_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"], ["users.id"], name=op.f("fk_follows_follower_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name=op.f("pk_follows")),
    )
    op.create_index(op.f("ix_follows_followee_id"), "follows", ["followee_id"], unique=False)
    _user_playlist_table("playlist_likes")
    _user_playlist_table("playlist_saves")


def downgrade() -> None:
    for name in ("playlist_saves", "playlist_likes"):
        op.drop_index(op.f(f"ix_{name}_playlist_id"), table_name=name)
        op.drop_table(name)
    op.drop_index(op.f("ix_follows_followee_id"), table_name="follows")
    op.drop_table("follows")
