"""library search tiers: on PostgreSQL, lower(tracks.title) and lower(artists.name) in pattern order (a capped
search reads "title = phrase", "title LIKE 'phrase%'" and "artist LIKE 'phrase%'" as bounded index scans); on
SQLite, an index on tracks.search_text (the prefix range that narrows the title tier)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_tracks_title_lower",
            "tracks",
            [sa.text("lower(title) text_pattern_ops")],
        )
        op.create_index(
            "ix_artists_name_lower",
            "artists",
            [sa.text("lower(name) text_pattern_ops")],
        )
    else:
        op.create_index("ix_tracks_search_text", "tracks", ["search_text"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_artists_name_lower", table_name="artists")
        op.drop_index("ix_tracks_title_lower", table_name="tracks")
    else:
        op.drop_index("ix_tracks_search_text", table_name="tracks")
