"""Migrations and the catalog load, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from api.db.load import load_catalog_into_db
from api.db.migrate import current_heads, downgrade, include_object_for, upgrade
from api.db.models import Artist, Base, Genre, Track
from api.db.session import get_engine, session_factory, transaction
from museed.catalog import load_catalog

HEAD = "0014"
PLAYLIST_0008_COLUMNS = ("id", "title", "owner_id", "visibility", "created_at", "updated_at")


def test_migrations_match_the_models(db_url: str) -> None:
    """Alembic head creates exactly the schema the models declare (nothing left to autogenerate)."""
    with get_engine(db_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object_for(conn.dialect.name)})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current_heads(db_url) == {HEAD}


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    downgrade(db_url, "base")
    assert current_heads(db_url) == set()
    upgrade(db_url)
    assert current_heads(db_url) == {HEAD}


def test_catalog_load_is_complete_and_idempotent(db_url: str, small_corpus: Path) -> None:
    catalog = load_catalog(small_corpus)
    factory = session_factory(db_url)
    with transaction(factory) as s:
        first = load_catalog_into_db(s, catalog)
    with transaction(factory) as s:
        again = load_catalog_into_db(s, catalog)
    assert first == again
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Track)) == len(catalog.tracks)
        assert s.scalar(select(func.count()).select_from(Artist)) == catalog.tracks["artist_id"].nunique()
        roots = s.scalars(select(Genre.title).where(Genre.parent == 0)).all()
        assert sorted(roots) == sorted(catalog.top_level_genres)
        # every value survives the trip, non-ASCII and list columns included
        for tid, row in catalog.tracks.iterrows():
            t = s.get(Track, int(tid))
            assert t is not None
            assert t.title == row["title"]
            assert t.genre_top == (row["genre_top"] if isinstance(row["genre_top"], str) else None)
            assert t.genres_all == list(row["genres_all"])
            assert t.genre_top_source == row["genre_top_source"]


def test_search_text_migration_backfills_and_postgres_indexes_it(db_url: str) -> None:
    """0008 fills tracks.search_text for rows loaded before it; on PostgreSQL a trigram index serves the LIKEs."""
    from sqlalchemy import text

    downgrade(db_url, "0007")
    with get_engine(db_url).begin() as conn:
        conn.execute(text("INSERT INTO artists (artist_id, name) VALUES (1, 'Ólafur ARNALDS')"))
        conn.execute(
            text(
                "INSERT INTO tracks (track_id, title, artist_id, album_title, genre_top_source, genres, genres_all)"
                " VALUES (7, 'Near LIGHT', 1, NULL, 'listed', '[]', '[]'),"
                " (8, 'Þú ert', 1, 'Living Room Songs', 'listed', '[]', '[]')"
            )
        )
    upgrade(db_url)
    with get_engine(db_url).connect() as conn:
        got = dict(conn.execute(text("SELECT track_id, search_text FROM tracks")).all())
        assert got == {7: "near light ólafur arnalds", 8: "þú ert ólafur arnalds living room songs"}
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # two rows: make the planner show it can use the index
            plan = "\n".join(
                r[0] for r in conn.execute(text("EXPLAIN SELECT 1 FROM tracks WHERE search_text LIKE '%light%'"))
            )
            assert "ix_tracks_search_text_trgm" in plan


def test_user_tastes_backfill_from_existing_playlists(db_url: str) -> None:
    """Upgrading from 0008 gives every playlist owner the row the playlist writes would have left."""
    from datetime import UTC, datetime

    import numpy as np
    import sqlalchemy as sa
    from sqlalchemy import insert

    from api.db.models import User, UserTaste

    downgrade(db_url, "0008")
    rng = np.random.default_rng(0)
    users = [
        {"id": f"{i:032x}", "email": f"u{i}@x.org", "password_hash": "x", "display_name": f"u{i}"} for i in range(7)
    ]
    vec = {k: (v / np.linalg.norm(v)).tolist() for k, v in enumerate(rng.normal(size=(6, 16)))}
    # user 0: public + private; 1: private only; 2: one public without an embedding and one with;
    # 3: two that cancel out; 4: only a public one without an embedding; 5: none; 6: three public
    spec = [
        (0, "public", vec[0]), (0, "private", vec[1]), (0, "public", vec[2]),
        (1, "private", vec[3]),
        (2, "public", None), (2, "public", vec[4]),
        (3, "public", vec[5]), (3, "public", [-x for x in vec[5]]),
        (4, "public", None),
        (6, "public", vec[0]), (6, "public", vec[1]), (6, "public", vec[3]),
    ]  # fmt: skip
    # the playlists table as 0008 left it (the model has columns later revisions add)
    json_cols = [sa.column(c, sa.JSON) for c in ("seed_track_ids", "recipe", "embedding")]
    playlists_0008 = sa.table("playlists", *[sa.column(c) for c in PLAYLIST_0008_COLUMNS], *json_cols)
    now = datetime.now(UTC)
    with get_engine(db_url).begin() as conn:
        conn.execute(insert(User), users)
        conn.execute(
            insert(playlists_0008),
            [
                {"id": f"{n:032x}", "title": "p", "owner_id": users[u]["id"], "visibility": vis,
                 "created_at": now, "updated_at": now, "seed_track_ids": [], "recipe": {}, "embedding": emb}
                for n, (u, vis, emb) in enumerate(spec)
            ],
        )  # fmt: skip
    upgrade(db_url)
    assert current_heads(db_url) == {HEAD}

    def unit(*ks: int) -> list[float]:
        m = np.mean([vec[k] for k in ks], axis=0)
        return list(m / np.linalg.norm(m))

    expected = {
        0: (unit(0, 2), 2, 0),
        1: (None, 0, 0),
        2: (unit(4), 2, 1),
        3: (None, 2, 0),
        4: (None, 1, 1),
        6: (unit(0, 1, 3), 3, 0),
    }
    with session_factory(db_url)() as s:
        rows = {r.user_id: r for r in s.scalars(select(UserTaste))}
    assert set(rows) == {users[u]["id"] for u in expected}  # owners only: user 5 has no playlist
    for u, (taste, n_public, n_stale) in expected.items():
        row = rows[users[u]["id"]]
        assert (row.n_public, row.n_stale) == (n_public, n_stale), u
        if taste is None:
            assert row.public_taste is None, u
        else:
            assert row.public_taste is not None
            assert np.frombuffer(row.public_taste, dtype=np.float32) == pytest.approx(taste, abs=1e-6), u
    downgrade(db_url, "0008")  # and back
    assert current_heads(db_url) == {"0008"}


def test_like_count_migration_counts_existing_likes(db_url: str) -> None:
    """0010 sets like_count from the playlist_likes rows already there."""
    from sqlalchemy import text

    downgrade(db_url, "0009")
    with get_engine(db_url).begin() as conn:
        for u in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, display_name, bio, created_at)"
                    " VALUES (:u, :e, 'x', :u, '', CURRENT_TIMESTAMP)"
                ),
                {"u": u * 32, "e": f"{u}@x.org"},
            )
        for p in ("p", "q"):
            conn.execute(
                text(
                    "INSERT INTO playlists (id, title, created_at, visibility, owner_id, updated_at, seed_track_ids,"
                    " recipe) VALUES (:p, 't', CURRENT_TIMESTAMP, 'public', :o, CURRENT_TIMESTAMP, '[]', '{}')"
                ),
                {"p": p * 32, "o": "a" * 32},
            )
        for u in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO playlist_likes (user_id, playlist_id, created_at) VALUES (:u, :p, CURRENT_TIMESTAMP)"
                ),
                {"u": u * 32, "p": "p" * 32},
            )
    upgrade(db_url)
    with get_engine(db_url).connect() as conn:
        got = dict(conn.execute(text("SELECT id, like_count FROM playlists")).all())
    assert got == {"p" * 32: 2, "q" * 32: 0}
