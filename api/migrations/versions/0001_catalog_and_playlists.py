"""catalog (genres, artists, tracks) and playlists

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "genres",
        sa.Column("genre_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("parent", sa.Integer(), nullable=False),
        sa.Column("top_level", sa.Integer(), nullable=False),
        sa.Column("n_tracks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("genre_id", name=op.f("pk_genres")),
    )
    op.create_table(
        "artists",
        sa.Column("artist_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("artist_id", name=op.f("pk_artists")),
    )
    op.create_table(
        "tracks",
        sa.Column("track_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=True),
        sa.Column("album_title", sa.String(length=500), nullable=True),
        sa.Column("genre_top", sa.String(length=100), nullable=True),
        sa.Column("genre_top_source", sa.String(length=16), nullable=False),
        sa.Column("genres", sa.JSON(), nullable=False),
        sa.Column("genres_all", sa.JSON(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("license", sa.String(length=300), nullable=True),
        sa.Column("split", sa.String(length=16), nullable=True),
        sa.Column("subset", sa.String(length=16), nullable=True),
        sa.Column("audio_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["artist_id"], ["artists.artist_id"], name=op.f("fk_tracks_artist_id_artists")),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_tracks")),
    )
    op.create_index(op.f("ix_tracks_artist_id"), "tracks", ["artist_id"], unique=False)
    op.create_index(op.f("ix_tracks_genre_top"), "tracks", ["genre_top"], unique=False)
    op.create_table(
        "playlists",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("seed_track_ids", sa.JSON(), nullable=False),
        sa.Column("recipe", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlists")),
    )
    op.create_table(
        "playlist_tracks",
        sa.Column("playlist_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_tracks_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.track_id"], name=op.f("fk_playlist_tracks_track_id_tracks")),
        sa.PrimaryKeyConstraint("playlist_id", "position", name=op.f("pk_playlist_tracks")),
    )
    op.create_index(op.f("ix_playlist_tracks_track_id"), "playlist_tracks", ["track_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_playlist_tracks_track_id"), table_name="playlist_tracks")
    op.drop_table("playlist_tracks")
    op.drop_table("playlists")
    op.drop_index(op.f("ix_tracks_genre_top"), table_name="tracks")
    op.drop_index(op.f("ix_tracks_artist_id"), table_name="tracks")
    op.drop_table("tracks")
    op.drop_table("artists")
    op.drop_table("genres")
