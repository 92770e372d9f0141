"""B2B trend reports: indexes on playlists.created_at and playlist_likes.created_at (a report reads one
bounded range of weeks of each)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_playlists_created_at", "playlists", ["created_at"])
    op.create_index("ix_playlist_likes_created_at", "playlist_likes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_playlist_likes_created_at", table_name="playlist_likes")
    op.drop_index("ix_playlists_created_at", table_name="playlists")
