"""Likes, saves, follows and feeds over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.db.models import Artist, Playlist
from api.db.session import session_factory, transaction
from api.playlists.taste import TasteRepository
from museed.settings import Settings

PROBLEM = "application/problem+json"


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=db_url, milvus_uri=str(tmp_path / "m.db"), serve_uploads=False)
    app = create_app(settings=settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            yield c


async def user(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """A signed-up, logged-in user: {"id", "headers"}."""
    creds = {"email": f"{name}-{uuid.uuid4().hex[:6]}@example.org", "password": "a long enough password"}
    made = await client.post("/api/auth/signup", json={**creds, "display_name": name})
    tokens = (await client.post("/api/auth/login", json=creds)).json()
    return {"id": made.json()["id"], "headers": {"Authorization": f"Bearer {tokens['access_token']}"}}


def playlist(db_url: str, owner_id: str, title: str, visibility: str, embedding: list[float] | None = None) -> str:
    """A stored (empty) playlist; generation itself is covered by test_playlists."""
    with transaction(session_factory(db_url)) as s:
        p = Playlist(
            title=title, owner_id=owner_id, visibility=visibility, seed_track_ids=[], recipe={}, embedding=embedding
        )
        s.add(p)
        s.flush()
        TasteRepository(s).refresh(owner_id)  # what the playlist service does after each write
        return p.id


async def test_likes_are_idempotent_and_feed_sorts_by_them(client: httpx.AsyncClient, db_url: str) -> None:
    ada, bob, cy = await user(client, "ada"), await user(client, "bob"), await user(client, "cy")
    older = playlist(db_url, ada["id"], "older", "public")
    newer = playlist(db_url, ada["id"], "newer", "public")
    private = playlist(db_url, ada["id"], "secret", "private")
    for who in (bob, cy):
        for _ in range(2):  # twice: still one like
            assert (await client.put(f"/api/playlists/{older}/like", headers=who["headers"])).status_code == 204
    feed = (await client.get("/api/feed", params={"sort": "liked"})).json()
    assert [p["id"] for p in feed][:2] == [older, newer] and feed[0]["likes"] == 2
    assert private not in {p["id"] for p in feed}
    recent = (await client.get("/api/feed")).json()
    assert [p["id"] for p in recent][:2] == [newer, older]
    # unlike, twice: no error, one like left
    for _ in range(2):
        assert (await client.delete(f"/api/playlists/{older}/like", headers=cy["headers"])).status_code == 204
    assert next(p for p in (await client.get("/api/feed")).json() if p["id"] == older)["likes"] == 1
    # someone else's private playlist cannot be liked or saved, and its existence does not leak
    for verb in ("like", "save"):
        resp = await client.put(f"/api/playlists/{private}/{verb}", headers=bob["headers"])
        assert resp.status_code == 404 and resp.headers["content-type"].startswith(PROBLEM)
    assert (await client.put(f"/api/playlists/{older}/like")).status_code == 401
    assert (await client.put(f"/api/playlists/{'0' * 32}/like", headers=bob["headers"])).status_code == 404


def test_like_count_survives_a_lost_race_and_equals_the_like_rows(db_url: str) -> None:
    """like_count moves with like/unlike; a duplicate that slips past the existence check (two requests at once)
    hits the primary key and is not counted; the feed shows the page's own track counts."""
    from sqlalchemy import func, select

    from api.db.models import PlaylistLike, PlaylistTrack, Track, User
    from api.social.repository import SocialRepository

    factory = session_factory(db_url)
    with transaction(factory) as s:
        users = [
            User(email=f"{i}-{uuid.uuid4().hex[:6]}@x.org", password_hash="x", display_name=f"u{i}") for i in range(3)
        ]
        s.add_all(users)
        s.flush()
        ids = [u.id for u in users]
    pids = [playlist(db_url, ids[0], f"p{i}", "public") for i in range(3)]
    with transaction(factory) as s:
        s.add(Artist(artist_id=1, name="a"))
        s.add_all(Track(track_id=t, title=f"t{t}", artist_id=1) for t in (1, 2, 3))
        s.flush()
        s.add_all(
            PlaylistTrack(playlist_id=pids[1], position=i, track_id=t, score=0.5) for i, t in enumerate((1, 2, 3))
        )
    with transaction(factory) as s:
        repo = SocialRepository(s)
        assert repo.add_edge(PlaylistLike, ids[1], pids[1]) and repo.add_edge(PlaylistLike, ids[2], pids[1])
        assert repo.add_edge(PlaylistLike, ids[1], pids[2]) and not repo.add_edge(PlaylistLike, ids[1], pids[2])
    with transaction(factory) as s:
        repo = SocialRepository(s)
        real_get = s.get
        s.get = lambda *a, **k: None  # type: ignore[method-assign]  # the check saw nothing: the race
        assert repo.add_edge(PlaylistLike, ids[2], pids[1]) is False
        s.get = real_get  # type: ignore[method-assign]
        assert repo.remove_edge(PlaylistLike, ids[1], pids[2]) and not repo.remove_edge(PlaylistLike, ids[1], pids[2])
    with factory() as s:
        rows = dict(s.execute(select(PlaylistLike.playlist_id, func.count()).group_by(PlaylistLike.playlist_id)).all())
        stored = dict(s.execute(select(Playlist.id, Playlist.like_count).where(Playlist.id.in_(pids))).all())
        assert stored == {pid: rows.get(pid, 0) for pid in pids} == {pids[0]: 0, pids[1]: 2, pids[2]: 0}
        feed = SocialRepository(s).public_feed("liked", 10, 0)
        top, n_tracks, likes = feed[0]
        assert (top.id, n_tracks, likes) == (pids[1], 3, 2)
        assert {p.id: n for p, n, _ in feed}[pids[0]] == 0


async def test_saves_are_bookmarks(client: httpx.AsyncClient, db_url: str) -> None:
    ada, bob = await user(client, "ada"), await user(client, "bob")
    pid = playlist(db_url, ada["id"], "to keep", "public")
    for _ in range(2):
        assert (await client.put(f"/api/playlists/{pid}/save", headers=bob["headers"])).status_code == 204
    saved = (await client.get("/api/users/me/saved", headers=bob["headers"])).json()
    assert [p["id"] for p in saved] == [pid]
    # the owner renames and then unpublishes: the bookmark follows, then disappears from bob's list
    await client.patch(f"/api/playlists/{pid}", json={"title": "renamed"}, headers=ada["headers"])
    assert (await client.get("/api/users/me/saved", headers=bob["headers"])).json()[0]["title"] == "renamed"
    await client.patch(f"/api/playlists/{pid}", json={"visibility": "private"}, headers=ada["headers"])
    assert (await client.get("/api/users/me/saved", headers=bob["headers"])).json() == []
    assert (await client.get("/api/users/me/saved")).status_code == 401


async def test_follows_lists_and_following_feed(client: httpx.AsyncClient, db_url: str) -> None:
    ada, bob, cy = await user(client, "ada"), await user(client, "bob"), await user(client, "cy")
    for _ in range(2):
        assert (await client.put(f"/api/users/{ada['id']}/follow", headers=bob["headers"])).status_code == 204
    assert (await client.put(f"/api/users/{ada['id']}/follow", headers=cy["headers"])).status_code == 204
    followers = (await client.get(f"/api/users/{ada['id']}/followers")).json()
    assert {f["id"] for f in followers} == {bob["id"], cy["id"]} and all("email" not in f for f in followers)
    assert [f["id"] for f in (await client.get(f"/api/users/{bob['id']}/following")).json()] == [ada["id"]]

    self_follow = await client.put(f"/api/users/{bob['id']}/follow", headers=bob["headers"])
    assert self_follow.status_code == 422 and "yourself" in self_follow.json()["detail"]
    assert (await client.put(f"/api/users/{'a' * 32}/follow", headers=bob["headers"])).status_code == 404
    assert (await client.put("/api/users/not-an-id/follow", headers=bob["headers"])).status_code == 422
    assert (await client.put(f"/api/users/{ada['id']}/follow")).status_code == 401

    public = playlist(db_url, ada["id"], "ada public", "public")
    playlist(db_url, ada["id"], "ada private", "private")
    playlist(db_url, cy["id"], "cy public", "public")
    feed = (await client.get("/api/feed/following", headers=bob["headers"])).json()
    assert [p["id"] for p in feed] == [public]  # only followed users' public playlists

    assert (await client.delete(f"/api/users/{ada['id']}/follow", headers=bob["headers"])).status_code == 204
    assert (await client.delete(f"/api/users/{ada['id']}/follow", headers=bob["headers"])).status_code == 204
    assert (await client.get("/api/feed/following", headers=bob["headers"])).json() == []
    assert [f["id"] for f in (await client.get(f"/api/users/{ada['id']}/followers")).json()] == [cy["id"]]


def catalog_rows(db_url: str) -> list[tuple[int, str]]:
    """Five tracks of five root genres (plus a sixth root with none), loaded straight into the catalog tables."""
    from api.db.models import Artist, Genre, Track

    roots = [(12, "Rock"), (15, "Electronic"), (2, "International"), (4, "Jazz"), (5, "Classical"), (13, "Easy")]
    tracks = [(100 + i, title) for i, (_, title) in enumerate(roots[:5])]
    with transaction(session_factory(db_url)) as s:
        s.add_all(Genre(genre_id=g, title=t, parent=0, top_level=g, n_tracks=1) for g, t in roots)
        s.add(Artist(artist_id=1, name="Someone"))
        s.flush()
        s.add_all(
            Track(
                track_id=tid,
                title=f"t{tid}",
                artist_id=1,
                genre_top=g,
                genre_top_source="listed",
                genres=[],
                genres_all=[],
            )
            for tid, g in tracks
        )
    return tracks


def playlist_with(db_url: str, owner_id: str, track_ids: list[int], visibility: str) -> str:
    from api.db.models import PlaylistTrack

    pid = playlist(db_url, owner_id, "mix", visibility)
    with transaction(session_factory(db_url)) as s:
        s.add_all(PlaylistTrack(playlist_id=pid, position=i, track_id=t, score=0.5) for i, t in enumerate(track_ids))
    return pid


async def test_badges_genre_mix_and_avatar(client: httpx.AsyncClient, db_url: str) -> None:
    tracks = catalog_rows(db_url)
    ada = await user(client, "ada")
    ids = [t for t, _ in tracks]
    private = playlist_with(db_url, ada["id"], ids, "private")  # all five genres
    public = playlist_with(db_url, ada["id"], [ids[0], ids[0], ids[1]], "public")  # Rock x2, Electronic
    assert (await client.get(f"/api/users/{ada['id']}/badges")).json() == []

    # the publish event evaluates the rules: each badge once
    for _ in range(2):
        resp = await client.patch(f"/api/playlists/{public}", json={"visibility": "public"}, headers=ada["headers"])
        assert resp.status_code == 200
    earned = [b["badge"] for b in (await client.get(f"/api/users/{ada['id']}/badges")).json()]
    assert sorted(earned) == ["first_playlist", "first_public_playlist", "five_genres_explored"]

    # ten likes from ten other listeners
    for i in range(10):
        fan = await user(client, f"fan{i}")
        await client.put(f"/api/playlists/{public}/like", headers=fan["headers"])
    earned = [b["badge"] for b in (await client.get(f"/api/users/{ada['id']}/badges")).json()]
    assert "ten_likes_received" in earned and len(earned) == len(set(earned)) == 4

    # genre mix: others see public playlists only; the owner sees everything; every root genre listed
    theirs = {g["genre"]: g for g in (await client.get(f"/api/users/{ada['id']}/genres")).json()}
    assert len(theirs) == 6 and theirs["Easy"]["tracks"] == 0
    assert theirs["Rock"]["tracks"] == 2 and theirs["Electronic"]["tracks"] == 1 and theirs["Jazz"]["tracks"] == 0
    assert abs(sum(g["share"] for g in theirs.values()) - 1.0) < 1e-3
    own = {g["genre"]: g for g in (await client.get(f"/api/users/{ada['id']}/genres", headers=ada["headers"])).json()}
    assert own["Rock"]["tracks"] == 3 and own["Jazz"]["tracks"] == 1

    # avatar: SVG, deterministic, changes when the public mix changes
    first = await client.get(f"/api/users/{ada['id']}/avatar.svg")
    assert first.status_code == 200 and first.headers["content-type"].startswith("image/svg+xml")
    assert first.text.startswith("<svg") and "Rock 67%" in first.text
    assert (await client.get(f"/api/users/{ada['id']}/avatar.svg")).text == first.text
    await client.patch(f"/api/playlists/{private}", json={"visibility": "public"}, headers=ada["headers"])
    changed = await client.get(f"/api/users/{ada['id']}/avatar.svg")
    assert changed.text != first.text and "Jazz" in changed.text
    other = await user(client, "bob")
    assert (await client.get(f"/api/users/{other['id']}/avatar.svg")).text != changed.text
    assert (await client.get(f"/api/users/{'b' * 32}/avatar.svg")).status_code == 404


async def test_people_with_similar_taste(client: httpx.AsyncClient, db_url: str) -> None:
    ada, bob, cy, dan, eve = [await user(client, n) for n in ("ada", "bob", "cy", "dan", "eve")]
    assert (await client.get("/api/users/me/similar", headers=ada["headers"])).status_code == 422  # no playlists
    # ada's taste: the unit mean of all her playlists, private ones included
    playlist(db_url, ada["id"], "mine", "private", [1.0, 0.0, 0.0])
    playlist(db_url, ada["id"], "mine too", "public", [0.6, 0.8, 0.0])
    playlist(db_url, bob["id"], "close", "public", [0.8, 0.6, 0.0])
    playlist(db_url, cy["id"], "far", "public", [0.0, 0.0, 1.0])
    playlist(db_url, cy["id"], "less far", "public", [0.0, 1.0, 0.0])
    playlist(db_url, dan["id"], "hidden twin", "private", [0.9, 0.4, 0.0])  # private: never speaks for dan
    resp = await client.get("/api/users/me/similar", headers=ada["headers"])
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert [u["id"] for u in got] == [bob["id"], cy["id"]]
    mine = [1.6 / (1.6**2 + 0.8**2) ** 0.5, 0.8 / (1.6**2 + 0.8**2) ** 0.5, 0.0]
    cy_taste = [0.0, 0.5**0.5, 0.5**0.5]
    assert got[0]["similarity"] == pytest.approx(mine[0] * 0.8 + mine[1] * 0.6, abs=1e-3)
    assert got[1]["similarity"] == pytest.approx(mine[1] * cy_taste[1], abs=1e-3)
    assert got[1]["public_playlists"] == 2 and got[0]["following"] is False
    assert set(got[0]) >= {"id", "display_name", "bio", "similarity"} and "email" not in got[0]
    await client.put(f"/api/users/{bob['id']}/follow", headers=ada["headers"])
    again = (await client.get("/api/users/me/similar", params={"limit": 1}, headers=ada["headers"])).json()
    assert [(u["id"], u["following"]) for u in again] == [(bob["id"], True)]
    # eve sees ada only through her public playlist
    playlist(db_url, eve["id"], "eve's", "private", [1.0, 0.0, 0.0])
    for_eve = (await client.get("/api/users/me/similar", headers=eve["headers"])).json()
    assert next(u for u in for_eve if u["id"] == ada["id"])["similarity"] == pytest.approx(0.6, abs=1e-3)
    assert (await client.get("/api/users/me/similar")).status_code == 401
    assert (await client.get("/api/users/me/similar", params={"limit": 0}, headers=ada["headers"])).status_code == 422


def taste_row(db_url: str, user_id: str) -> tuple[list[float] | None, int, int] | None:
    """The stored (public taste, n_public, n_stale) of a user, or None when there is no row."""
    import numpy as np

    from api.db.models import UserTaste

    with session_factory(db_url)() as s:
        row = s.get(UserTaste, user_id)
        if row is None:
            return None
        taste = None if row.public_taste is None else np.frombuffer(row.public_taste, dtype=np.float32).tolist()
        return taste, row.n_public, row.n_stale


async def test_taste_row_follows_visibility_edits_deletes_and_the_account(
    client: httpx.AsyncClient, db_url: str
) -> None:
    from sqlalchemy import delete

    from api.db.models import User

    ada, bob = await user(client, "ada"), await user(client, "bob")
    tracks = [t for t, _ in catalog_rows(db_url)]
    assert taste_row(db_url, ada["id"]) is None  # no playlist, no row
    x = playlist(db_url, ada["id"], "x", "private", [1.0, 0.0, 0.0])
    assert taste_row(db_url, ada["id"]) == (None, 0, 0)  # private playlists never make the public taste
    y = playlist_with(db_url, ada["id"], tracks[:3], "public")  # public, but no embedding yet
    assert taste_row(db_url, ada["id"]) == (None, 1, 1)
    with transaction(session_factory(db_url)) as s:
        s.get(Playlist, y).embedding = [0.0, 1.0, 0.0]  # type: ignore[union-attr]
        TasteRepository(s).refresh(ada["id"])
    assert taste_row(db_url, ada["id"]) == ([0.0, 1.0, 0.0], 1, 0)

    async def patch(pid: str, **body: str) -> None:
        resp = await client.patch(f"/api/playlists/{pid}", json=body, headers=ada["headers"])
        assert resp.status_code == 200, resp.text

    await patch(x, visibility="public")  # made public
    half = 0.5**0.5
    got = taste_row(db_url, ada["id"])
    assert got is not None and got[1:] == (2, 0) and got[0] == pytest.approx([half, half, 0.0], abs=1e-6)
    await patch(x, visibility="private")  # made private
    assert taste_row(db_url, ada["id"]) == ([0.0, 1.0, 0.0], 1, 0)
    await patch(x, visibility="public")  # public again
    assert taste_row(db_url, ada["id"])[0] == pytest.approx([half, half, 0.0], abs=1e-6)  # type: ignore[index]
    await patch(x, title="renamed")  # a rename changes nothing
    assert taste_row(db_url, ada["id"])[0] == pytest.approx([half, half, 0.0], abs=1e-6)  # type: ignore[index]

    # tracks removed while no index serves their vectors: the embedding goes, the playlist counts as stale
    resp = await client.put(f"/api/playlists/{y}/tracks", json={"track_ids": tracks[:1]}, headers=ada["headers"])
    assert resp.status_code == 200, resp.text
    assert taste_row(db_url, ada["id"]) == ([1.0, 0.0, 0.0], 2, 1)
    # bob only sees ada through what is stored: x now
    playlist(db_url, bob["id"], "bob's", "private", [1.0, 0.0, 0.0])
    for_bob = (await client.get("/api/users/me/similar", headers=bob["headers"])).json()
    assert [(u["id"], u["similarity"], u["public_playlists"]) for u in for_bob] == [(ada["id"], 1.0, 2)]

    assert (await client.delete(f"/api/playlists/{x}", headers=ada["headers"])).status_code == 204
    assert taste_row(db_url, ada["id"]) == (None, 1, 1)
    assert (await client.get("/api/users/me/similar", headers=bob["headers"])).json() == []
    with transaction(session_factory(db_url)) as s:
        s.execute(delete(User).where(User.id == ada["id"]))
    assert taste_row(db_url, ada["id"]) is None  # the row goes with the account


async def test_similar_taste_is_the_cosine_with_each_public_taste(client: httpx.AsyncClient, db_url: str) -> None:
    """Brute force: random playlists (some private, some without an embedding) for a dozen listeners; the answer
    is every other listener with a public taste, by cosine with the requester's taste over all her playlists."""
    import numpy as np

    rng = np.random.default_rng(3)
    me = await user(client, "me")
    others = [await user(client, f"u{i}") for i in range(12)]
    mine: list[np.ndarray] = []
    public: dict[str, list[np.ndarray]] = {}
    n_public: dict[str, int] = {}
    for who in [me, *others]:
        for _ in range(int(rng.integers(0, 5))):
            visibility = str(rng.choice(["public", "private"]))
            vec = rng.normal(size=8)
            vec /= np.linalg.norm(vec)
            embedding = None if rng.random() < 0.2 else [float(v) for v in vec]
            playlist(db_url, who["id"], "p", visibility, embedding)
            if who is me:
                if embedding is not None:
                    mine.append(vec)
            elif visibility == "public":
                n_public[who["id"]] = n_public.get(who["id"], 0) + 1
                if embedding is not None:
                    public.setdefault(who["id"], []).append(vec)
    playlist(db_url, me["id"], "one for sure", "private", [1.0] + [0.0] * 7)
    mine.append(np.eye(8)[0])

    def unit(vs: list[np.ndarray]) -> np.ndarray:
        m = np.mean(vs, axis=0)
        return m / np.linalg.norm(m)

    expected = sorted(((float(unit(mine) @ unit(vs)), uid) for uid, vs in public.items()), key=lambda x: (-x[0], x[1]))
    assert len(expected) >= 5  # the draw leaves enough listeners to rank
    for limit in (50, 3):
        resp = await client.get("/api/users/me/similar", params={"limit": limit}, headers=me["headers"])
        assert resp.status_code == 200, resp.text
        got = resp.json()
        assert [u["id"] for u in got] == [uid for _, uid in expected][:limit]
        assert [u["similarity"] for u in got] == pytest.approx([s for s, _ in expected][:limit], abs=2e-4)
        assert [u["public_playlists"] for u in got] == [n_public[uid] for _, uid in expected][:limit]


def test_taste_matrix_is_reused_until_the_table_changes(db_url: str) -> None:
    """The in-process matrix of stored tastes: reused while nothing changed, patched row by row after changes
    (always equal to a fresh read)."""
    from sqlalchemy import delete

    from api.db.models import User
    from api.playlists import taste

    factory = session_factory(db_url)
    with transaction(factory) as s:
        ids = []
        for name in ("ada", "bob", "cy", "dan"):
            u = User(email=f"{name}@example.org", password_hash="x", display_name=name)
            s.add(u)
            s.flush()
            ids.append(u.id)
    ada, bob, cy, dan = ids
    playlist(db_url, ada, "a", "public", [1.0, 0.0])
    playlist(db_url, bob, "b", "public", [0.0, 1.0])
    private = playlist(db_url, cy, "c", "private", [0.6, 0.8])

    def matrices() -> dict[int, Any]:
        with factory() as s:
            return TasteRepository(s).matrices()

    def checked() -> dict[int, dict[str, list[float]]]:
        """The held matrices, after checking them against a fresh read."""
        groups = matrices()
        assert all(len(set(g.user_ids)) == len(g.user_ids) == len(g.matrix) for g in groups.values())
        held = {size: {u: g.matrix[g.row_of[u]].tolist() for u in g.user_ids} for size, g in groups.items()}
        taste._CACHE.clear()
        fresh = {size: {u: g.matrix[g.row_of[u]].tolist() for u in g.user_ids} for size, g in matrices().items()}
        assert held == fresh
        return held

    first = matrices()
    assert sorted(first[8].user_ids) == sorted([ada, bob]) and matrices() is first  # nothing changed: reused
    with transaction(factory) as s:
        TasteRepository(s).refresh(ada)  # a refresh that changes nothing keeps it valid
    assert matrices() is first
    with transaction(factory) as s:
        s.get(Playlist, private).visibility = "public"  # type: ignore[union-attr]
        TasteRepository(s).refresh(cy)  # same row count (cy's row exists), new content
    second = matrices()
    assert second is not first and sorted(second[8].user_ids) == sorted([ada, bob, cy])
    assert second[8].matrix[second[8].row_of[cy]].tolist() == pytest.approx([0.6, 0.8])
    assert checked()[8][cy] == pytest.approx([0.6, 0.8])
    playlist(db_url, dan, "d", "public", [0.0, 0.0, 1.0])  # another encoder's size: its own group
    playlist(db_url, ada, "a2", "public", [0.0, 1.0])
    with transaction(factory) as s:
        s.execute(delete(User).where(User.id == bob))
    got = checked()
    assert sorted(got[8]) == sorted([ada, cy]) and list(got[12]) == [dan]
    assert got[8][ada] == pytest.approx([0.5**0.5, 0.5**0.5])
