"""recommendation details: per-track "why", playlist embeddings (taste), upload analysis

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playlist_tracks") as batch:
        batch.add_column(sa.Column("why", sa.String(length=300), nullable=True))
    with op.batch_alter_table("playlists") as batch:
        batch.add_column(sa.Column("embedding", sa.JSON(), nullable=True))
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("analysis", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("analysis")
    with op.batch_alter_table("playlists") as batch:
        batch.drop_column("embedding")
    with op.batch_alter_table("playlist_tracks") as batch:
        batch.drop_column("why")
