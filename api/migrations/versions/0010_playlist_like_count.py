"""feeds at scale: playlists.like_count kept by like/unlike, indexes for the public feeds

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playlists") as batch:
        batch.add_column(sa.Column("like_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE playlists SET like_count = "
        "(SELECT count(*) FROM playlist_likes WHERE playlist_likes.playlist_id = playlists.id)"
    )
    op.create_index("ix_playlists_feed_recent", "playlists", ["visibility", "created_at"])
    op.create_index("ix_playlists_feed_liked", "playlists", ["visibility", "like_count", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_playlists_feed_liked", table_name="playlists")
    op.drop_index("ix_playlists_feed_recent", table_name="playlists")
    with op.batch_alter_table("playlists") as batch:
        batch.drop_column("like_count")
