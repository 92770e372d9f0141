"""SQLAlchemy 2.0 models of the metadata and playlist tables (every change goes through an Alembic migration)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy import func as sql_func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back zone-aware: SQLite keeps no zone and returns naive values,
    which are not RFC 3339 date-times; the column type stays `TIMESTAMP WITH TIME ZONE` / SQLite `DATETIME`."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # a naive value is taken as UTC (the only zone this code writes)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_public_id() -> str:
    """An unguessable id for objects users share by URL (122 random bits)."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Genre(Base):
    """An FMA genre (genres.csv); roots have parent 0 and are the 16 top-level genres on FMA."""

    __tablename__ = "genres"

    genre_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(200))
    parent: Mapped[int] = mapped_column(Integer, default=0)
    top_level: Mapped[int] = mapped_column(Integer)
    n_tracks: Mapped[int] = mapped_column(Integer, default=0)


class Artist(Base):
    """An FMA artist."""

    __tablename__ = "artists"

    artist_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(500))

    tracks: Mapped[list[Track]] = relationship(back_populates="artist", lazy="raise")


class Track(Base):
    """A library track with its FMA metadata."""

    __tablename__ = "tracks"

    track_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(500))
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.artist_id"), index=True)
    album_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    album_title: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # top-level genre title; None when FMA's genres lead to zero or several roots
    genre_top: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    genre_top_source: Mapped[str] = mapped_column(String(16), default="listed")
    genres: Mapped[list[int]] = mapped_column(JSON, default=list)
    genres_all: Mapped[list[int]] = mapped_column(JSON, default=list)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    license: Mapped[str | None] = mapped_column(String(300), nullable=True)
    split: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subset: Mapped[str | None] = mapped_column(String(16), nullable=True)
    audio_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    # lower-cased "title artist album", written by the catalog load (`track_search_text`): library search
    # matches every query word against this one column, which PostgreSQL indexes with pg_trgm
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    artist: Mapped[Artist] = relationship(back_populates="tracks", lazy="raise")

    __table_args__ = (
        Index(
            "ix_tracks_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )


# the ranked tiers of library search (a capped search reads them as bounded queries, `TrackRepository.search`):
# on PostgreSQL, lower(title) and lower(artist name) in pattern order serve "= phrase" and "LIKE 'phrase%'";
# on SQLite, whose lower() is a Python function there, a plain index on search_text serves the prefix range
# that narrows the title tier
Index(
    "ix_tracks_title_lower",
    sql_func.lower(Track.__table__.c.title).label("title_lower"),
    postgresql_ops={"title_lower": "text_pattern_ops"},
).ddl_if(dialect="postgresql")
Index(
    "ix_artists_name_lower",
    sql_func.lower(Artist.__table__.c.name).label("name_lower"),
    postgresql_ops={"name_lower": "text_pattern_ops"},
).ddl_if(dialect="postgresql")
Index("ix_tracks_search_text", Track.__table__.c.search_text).ddl_if(dialect="sqlite")


def track_search_text(title: str | None, artist: str | None, album: str | None) -> str:
    """What library search matches query words against. Words are split on whitespace, so joining the fields
    with a space means no word can match across two fields. Python's lower() folds all of Unicode, like
    PostgreSQL's lower() under a UTF-8 locale (SQLite's folds ASCII only, so it is never relied on)."""
    return " ".join(part.lower() for part in (title, artist, album) if part)


class Playlist(Base):
    """A generated playlist and the recipe that reproduces it."""

    __tablename__ = "playlists"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    # nullable: playlists made before accounts existed have no owner (and stay readable only if public)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)
    seed_track_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # options, encoder id, vector set id and index (collection) the playlist was made with
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # unit mean of the tracks' vectors ("taste" of the playlist); None until computed (e.g. after an edit)
    embedding: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    # playlist_likes rows of this playlist, kept by like/unlike in the same transaction: the "most liked" feed
    # orders by it through an index instead of counting every like of every playlist per request
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the public playlist this one was forked from, recipe and all (None: not a fork, or the source is gone)
    forked_from_id: Mapped[str | None] = mapped_column(
        ForeignKey("playlists.id", ondelete="SET NULL"), nullable=True, index=True
    )

    entries: Mapped[list[PlaylistTrack]] = relationship(
        back_populates="playlist",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="PlaylistTrack.position",
    )

    __table_args__ = (
        Index("ix_playlists_feed_recent", "visibility", "created_at"),
        Index("ix_playlists_feed_liked", "visibility", "like_count", "created_at"),
        Index("ix_playlists_created_at", "created_at"),  # the B2B trend reports read a range of weeks
    )


class PlaylistTrack(Base):
    """One position of a playlist."""

    __tablename__ = "playlist_tracks"

    playlist_id: Mapped[str] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.track_id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    # why the track was chosen (tags it shares with the seed), as shown when the playlist was made
    why: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # the owner's keep mark: a refresh leaves this track in the playlist
    kept: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    playlist: Mapped[Playlist] = relationship(back_populates="entries", lazy="raise")
    track: Mapped[Track] = relationship(lazy="raise")


class User(Base):
    """A listener account."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    # stored lower-cased; the unique index makes sign-up races fail cleanly
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(80))
    bio: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class RefreshToken(Base):
    """An issued refresh token (by its JWT id); rotation revokes it, reuse of a revoked one revokes them all."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Follow(Base):
    """`follower` follows `followee`."""

    __tablename__ = "follows"

    follower_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    followee_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class PlaylistLike(Base):
    """A user likes a playlist."""

    __tablename__ = "playlist_likes"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    playlist_id: Mapped[str] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # indexed: the B2B trend reports count the likes of a range of weeks
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, index=True)


class PlaylistSave(Base):
    """A user saved (bookmarked) a playlist: it follows the owner's later edits, and vanishes if made private."""

    __tablename__ = "playlist_saves"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    playlist_id: Mapped[str] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class UserBadge(Base):
    """A badge a user earned (awarded once)."""

    __tablename__ = "user_badges"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    badge: Mapped[str] = mapped_column(String(64), primary_key=True)
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class UserTaste(Base):
    """A listener's public taste, kept by every write to their playlists (`api.playlists.taste.TasteRepository`):
    what "people with similar taste" reads for everyone but the requester."""

    __tablename__ = "user_tastes"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # float32 bytes of the unit mean of the public playlists' embeddings; None when none has one (or they cancel)
    public_taste: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    n_public: Mapped[int] = mapped_column(Integer, default=0)
    # public playlists without an embedding yet (made before 0007, or edited while no index was served)
    n_stale: Mapped[int] = mapped_column(Integer, default=0)
    # random, redrawn on every change: (count, sum of stamps) tells readers' caches whether anything changed
    stamp: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class Upload(Base):
    """A user's own audio ("my track"): kept private, reusable as a playlist seed."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    duration_seconds: Mapped[float] = mapped_column(Float)
    encoder_id: Mapped[str] = mapped_column(String(200))
    # the embedding, so the upload can seed playlists without decoding it again
    vector: Mapped[list[float]] = mapped_column(JSON)
    # genre / mood / energy / valence / source voted by the upload's nearest library tracks (None: no index)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Organisation(Base):
    """A company that calls the B2B API; created by an operator."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class OrgMember(Base):
    """A listener account in an organisation, as `admin` (manages the organisation's keys) or `member`."""

    __tablename__ = "org_members"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class ApiKey(Base):
    """An organisation's API key: the public `prefix` names it, only the SHA-256 of the full secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    # "msk_" + 8 random hex characters: shown in lists and logs instead of the key
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    plan: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    # set on the old key when it is rotated (it is revoked at the same moment)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiUsage(Base):
    """Answered B2B requests per organisation, key, UTC day and endpoint (units: a batch of n queries is n)."""

    __tablename__ = "api_usage"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True, index=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class PlaylistServedTrack(Base):
    """A track a playlist has held at some point (made or refreshed): a refresh never serves it again unless the
    owner kept it."""

    __tablename__ = "playlist_served_tracks"

    playlist_id: Mapped[str] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.track_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class HeardTrack(Base):
    """A listener marked a track heard: none of their generated playlists (new or refreshed) serves it again."""

    __tablename__ = "heard_tracks"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.track_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class UserBlockedArtist(Base):
    """A listener never wants to hear this artist in their playlists."""

    __tablename__ = "user_blocked_artists"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[int] = mapped_column(
        ForeignKey("artists.artist_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class UserBlockedTrack(Base):
    """A listener never wants to hear this track in their playlists."""

    __tablename__ = "user_blocked_tracks"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.track_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class OrgBlockedArtist(Base):
    """An organisation's `/v1` recommendations never include this artist."""

    __tablename__ = "org_blocked_artists"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[int] = mapped_column(
        ForeignKey("artists.artist_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class OrgBlockedTrack(Base):
    """An organisation's `/v1` recommendations never include this track."""

    __tablename__ = "org_blocked_tracks"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.track_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
