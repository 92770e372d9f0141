"""Library search, the social feeds and "people with similar taste" at production scale, on PostgreSQL.

    python -m benchmarks.queries [--tracks 90000] [--users 10000] [--playlists-per-user 5] [--dim 512]

Creates a scratch database on the local PostgreSQL (MUSEED_TEST_PG_ADMIN_URL, default postgres@127.0.0.1),
migrates it to head, fills it with a synthetic catalog (FMA-sized: 90k tracks, ~16k artists) and with users who
each own public playlists carrying an embedding, then times, through the same repository/service code the API
runs (no HTTP):

- `TrackRepository.search` for common, rare and multi-word queries (the SQL statements of one page);
- `SocialRepository.public_feed` (recent, most liked) and `following_feed` (10 likes, 20 follows per listener);
- `SocialService.similar_taste` for one user: nothing changed since the last query, the first query after
  another listener's playlist write, and the first query of a process (all stored tastes loaded).

Prints a markdown table (median and p95 over repeats, ms). The database is dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import typer

from benchmarks.common import Command, nearest_rank, repeat_timed

app = typer.Typer(add_completion=False)

WORDS = (  # noqa: SIM905 (one line of words reads better than a column of them)
    "love night blue fire river dream light shadow city heart rain gold storm echo ghost wild silver "
    "ocean dust road glass stone winter summer black white red neon paper static velvet iron honey"
).split()


def _timed(fn: Callable[[], Any], repeats: int, before: Callable[[], Any] | None = None) -> tuple[float, float]:
    """(median, p95) ms of `repeats` calls of `fn` after one untimed warm-up call."""
    fn()  # warm the plan cache and the buffer pool
    times = [seconds * 1000 for seconds in repeat_timed(fn, repeats, before)[1]]
    times.sort()
    return statistics.median(times), nearest_rank(times, 0.95)


def _fill(url: str, n_tracks: int, n_users: int, per_user: int, dim: int, seed: int) -> None:
    from sqlalchemy import create_engine, func, insert, select, update
    from sqlalchemy.orm import sessionmaker

    from api.db.models import (
        Artist,
        Follow,
        Playlist,
        PlaylistLike,
        PlaylistTrack,
        Track,
        User,
        track_search_text,
    )
    from api.playlists.recommend import unit_mean
    from api.playlists.taste import TasteRepository
    from synth import FMA_LARGE_GENRE_TOP_COUNTS

    rng = np.random.default_rng(seed)
    engine = create_engine(url)
    n_artists = max(1, n_tracks // 6)
    # genre_top drawn with fma_large's real imbalance
    genres = list(FMA_LARGE_GENRE_TOP_COUNTS)
    weights = np.array([FMA_LARGE_GENRE_TOP_COUNTS[g] for g in genres], dtype=np.float64)
    weights /= weights.sum()

    def phrase(k: int) -> str:
        return " ".join(str(w).capitalize() for w in rng.choice(WORDS, size=k))

    with engine.begin() as conn:
        names = {a: f"{phrase(2)} {a}" for a in range(1, n_artists + 1)}
        conn.execute(insert(Artist), [{"artist_id": a, "name": n} for a, n in names.items()])
        rows = []
        for t in range(1, n_tracks + 1):
            title, artist, album = phrase(int(rng.integers(1, 4))), int(rng.integers(1, n_artists + 1)), phrase(2)
            rows.append(
                {
                    "track_id": t,
                    "title": title,
                    "artist_id": artist,
                    "album_id": t // 10,
                    "album_title": album,
                    "genre_top": str(rng.choice(genres, p=weights)),
                    "genres": [],
                    "genres_all": [],
                    "search_text": track_search_text(title, names[artist], album),  # as the catalog load writes it
                }
            )
            if len(rows) == 10_000:
                conn.execute(insert(Track), rows)
                rows = []
        if rows:
            conn.execute(insert(Track), rows)
        users = [
            {"id": uuid.uuid4().hex, "email": f"u{u}@bench.local", "password_hash": "x", "display_name": f"u{u}"}
            for u in range(n_users)
        ]
        conn.execute(insert(User), users)
        centres = rng.normal(size=(64, dim)).astype(np.float32)
        playlists, members = [], []
        for u in users:
            centre = centres[rng.integers(0, len(centres))]
            for _ in range(per_user):
                pid = uuid.uuid4().hex
                vecs = [v / np.linalg.norm(v) for v in centre + rng.normal(scale=2.0, size=(3, dim))]
                playlists.append(
                    {
                        "id": pid,
                        "title": "p",
                        "visibility": "public",
                        "owner_id": u["id"],
                        "seed_track_ids": [],
                        "recipe": {"options": {"size": 20}},
                        "embedding": unit_mean(vecs),
                    }
                )
                members += [
                    {"playlist_id": pid, "position": i, "track_id": int(rng.integers(1, n_tracks + 1)), "score": 0.5}
                    for i in range(20)
                ]
            if len(playlists) >= 5_000:
                conn.execute(insert(Playlist), playlists)
                conn.execute(insert(PlaylistTrack), members)
                playlists, members = [], []
        if playlists:
            conn.execute(insert(Playlist), playlists)
            conn.execute(insert(PlaylistTrack), members)
    # the stored public tastes, as the playlist writes leave them (the same function, once per owner)
    factory = sessionmaker(bind=engine)
    for start in range(0, len(users), 1_000):
        with factory.begin() as session:
            tastes = TasteRepository(session)
            for u in users[start : start + 1_000]:
                tastes.refresh(u["id"])
    # 10 likes per listener, skewed towards few playlists (Zipf), and 20 follows per listener
    with engine.begin() as conn:
        pids = [r[0] for r in conn.execute(select(Playlist.id).order_by(Playlist.id))]
        if pids:
            weight = 1.0 / np.arange(1, len(pids) + 1)
            weight /= weight.sum()
            likes = {(u["id"], pids[int(i)]) for u in users for i in rng.choice(len(pids), size=10, p=weight)}
            conn.execute(insert(PlaylistLike), [{"user_id": u, "playlist_id": p} for u, p in likes])
            # what one like/unlike each keeps current (SocialRepository._count_like), here in one statement
            conn.execute(
                update(Playlist).values(
                    like_count=select(func.count())
                    .where(PlaylistLike.playlist_id == Playlist.id)
                    .correlate(Playlist)
                    .scalar_subquery()
                )
            )
        ids = [u["id"] for u in users]
        follows = {
            (a, ids[int(b)]) for a in ids for b in rng.choice(len(ids), size=min(20, len(ids))) if ids[int(b)] != a
        }
        if follows:
            conn.execute(insert(Follow), [{"follower_id": a, "followee_id": b} for a, b in follows])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


@app.command(cls=Command, help=__doc__)
def main(
    tracks: Annotated[int, typer.Option("--tracks")] = 90_000,
    users: Annotated[int, typer.Option("--users")] = 10_000,
    playlists_per_user: Annotated[int, typer.Option("--playlists-per-user")] = 5,
    dim: Annotated[int, typer.Option("--dim")] = 512,
    repeats: Annotated[int, typer.Option("--repeats")] = 20,
) -> None:
    """Fill a scratch database, time the queries, print a table, drop the database."""
    from sqlalchemy import create_engine, select, text

    from api.badges.service import get_badge_service
    from api.db.migrate import upgrade
    from api.db.models import Playlist, User
    from api.db.session import session_factory, transaction
    from api.playlists.service import get_playlist_service
    from api.playlists.taste import _CACHE as _TASTE_CACHE
    from api.playlists.taste import TasteRepository
    from api.social.repository import SocialRepository
    from api.social.service import get_social_service
    from api.tracks.repository import TrackRepository
    from api.uploads.service import get_upload_service
    from museed.settings import get_settings

    admin_url = os.environ.get("MUSEED_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    name = f"museed_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        t0 = time.perf_counter()
        _fill(url, tracks, users, playlists_per_user, dim, seed=0)
        print(
            f"filled {tracks} tracks, {users} users x {playlists_per_user} public playlists "
            f"in {time.perf_counter() - t0:.0f} s"
        )
        factory = session_factory(url)
        rows = []
        queries = {
            "common word ('love')": ["love"],
            "two words ('blue night')": ["blue", "night"],
            "rare word ('zzq')": ["zzq"],
            "prefix ('ne')": ["ne"],
        }
        for label, terms in queries.items():

            def search(terms: list[str] = terms) -> None:
                with factory() as s:
                    TrackRepository(s).search(terms, None, 20, 0)

            with factory() as s:
                total = TrackRepository(s).search(terms, None, 20, 0)[1]
            med, p95 = _timed(search, repeats)
            rows.append((f"search {label}, {total} matches", med, p95))

        with factory() as s:
            fan = s.scalars(select(User.id).order_by(User.id).limit(1)).one()
        feeds = {
            "public feed, most recent": lambda r: r.public_feed("recent", 20, 0),
            "public feed, most liked": lambda r: r.public_feed("liked", 20, 0),
            "public feed, most liked, page 50": lambda r: r.public_feed("liked", 20, 1000),
            "feed of followed listeners": lambda r: r.following_feed(fan, 20, 0),
        }
        for label, feed in feeds.items():

            def read_feed(feed: Any = feed) -> None:
                with factory() as s:
                    feed(SocialRepository(s))

            med, p95 = _timed(read_feed, repeats)
            rows.append((label, med, p95))

        def taste() -> None:
            with factory() as s:
                me = s.scalars(select(User).order_by(User.id).limit(1)).one()
                # the request's wiring (api.*.service get_* dependencies), without an index or an upload encoder
                badges = asyncio.run(get_badge_service(s))
                uploads = asyncio.run(get_upload_service(s, get_settings(), None, None, badges))
                playlists = asyncio.run(get_playlist_service(s, None, uploads, badges))
                asyncio.run(get_social_service(s, playlists, badges, None)).similar_taste(me, 20)

        med, p95 = _timed(taste, max(3, repeats // 4))
        rows.append((f"similar taste, {users * playlists_per_user} public playlists", med, p95))

        with factory() as s:
            writers = list(s.scalars(select(Playlist).order_by(Playlist.id).limit(50)))

        def someone_writes() -> None:  # another listener (un)publishes a playlist, as PATCH does
            with transaction(factory) as s:
                p = s.get(Playlist, writers.pop().id)
                assert p is not None and p.owner_id is not None  # read just above, every one has an owner
                p.visibility = "private"
                TasteRepository(s).refresh(p.owner_id)

        med, p95 = _timed(taste, max(3, repeats // 4), before=someone_writes)
        rows.append(("similar taste, first query after another listener's write", med, p95))
        med, p95 = _timed(taste, max(3, repeats // 4), before=_TASTE_CACHE.clear)
        rows.append((f"similar taste, first query of a process (loads {users} tastes)", med, p95))
        print("\n| query | median ms | p95 ms |\n|---|---|---|")
        for label, med, p95 in rows:
            print(f"| {label} | {med:.1f} | {p95:.1f} |")
    finally:
        from api.db.session import get_engine

        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    app()
