"""End to end over HTTP: synthetic corpus -> small MuQ vectors -> Milvus -> DB join -> playlist JSON.

Two stacks: the embedded defaults (SQLite + Milvus Lite) and the production pair (PostgreSQL + Milvus server).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.app import create_app
from api.db.load import load_catalog_into_db
from api.db.session import session_factory, transaction
from embedding.store import VectorSet, load_vector_set
from indexing.milvus_index import TrackIndex
from museed.catalog import load_catalog
from museed.pipeline import track_metadata
from museed.settings import Settings
from museed.tags import ground_truth_tags

PROBLEM = "application/problem+json"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("sqlite", "lite"), id="sqlite+milvus-lite"),
        pytest.param(
            ("postgresql", "server"),
            id="postgres+milvus-server",
            marks=[pytest.mark.postgres, pytest.mark.milvus_server],
        ),
    ],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, small_corpus: Path, small_vectors: Path
) -> dict[str, Any]:
    """A loaded DB and a built index for the small corpus, on the requested stack (built once per module)."""
    db_kind, milvus_kind = request.param
    tmp_path = tmp_path_factory.mktemp("api-stack")
    unique_alias = f"tracks_{uuid.uuid4().hex[:8]}"
    from tests.conftest import _create_pg_database, _drop_pg_database

    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.sqlite'}"
    else:
        name, url = _create_pg_database()
        request.addfinalizer(lambda: _drop_pg_database(name))
    from api.db.migrate import upgrade

    upgrade(url)
    catalog = load_catalog(small_corpus)
    with transaction(session_factory(url)) as s:
        load_catalog_into_db(s, catalog)
    uri = str(tmp_path / "m.db") if milvus_kind == "lite" else request.getfixturevalue("milvus_server")
    vs = load_vector_set(small_vectors)
    index = TrackIndex(uri, alias=unique_alias)
    # the synthetic corpus' ground-truth tags stand in for a tagging run (filters and "why" use them)
    tags = ground_truth_tags(small_corpus / "synth_ground_truth.csv")
    index.build(vs, track_metadata(catalog, tags))
    request.addfinalizer(index.close)
    settings = Settings(
        database_url=url,
        milvus_uri=uri,
        milvus_alias=unique_alias,
        # the library's segment policy (see small_vectors): uploads must be embedded the same way
        segment_seconds=2.0,
        segments_per_track=2,
        max_upload_bytes=2 * 1024 * 1024,
    )
    from embedding.encoders import load_encoder

    encoder = load_encoder("small:0", settings=settings)
    return {"settings": settings, "index": index, "vectors": vs, "catalog": catalog, "encoder": encoder, "tags": tags}


async def signed_in(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Sign up + log in a fresh user; returns the Authorization header."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
    creds = {"email": email, "password": "a long enough password"}
    assert (await client.post("/api/auth/signup", json={**creds, "display_name": name})).status_code == 201
    tokens = (await client.post("/api/auth/login", json=creds)).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
async def client(stack: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as a fresh user (`client.headers` carries the bearer token)."""
    app = create_app(settings=stack["settings"], track_index=stack["index"], encoder=stack["encoder"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            c.headers.update(await signed_in(c, "listener"))
            yield c


def exact_top(vs: VectorSet, query: np.ndarray, exclude: set[int], allowed: set[int] | None = None) -> list[int]:
    """Brute-force ranking of every track by cosine with `query` (ground truth for the index)."""
    scores = vs.vectors @ query
    order = np.argsort(-scores)
    return [
        int(vs.track_ids[i])
        for i in order
        if int(vs.track_ids[i]) not in exclude and (allowed is None or int(vs.track_ids[i]) in allowed)
    ]


async def test_playlist_from_one_seed(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    catalog = stack["catalog"]
    seed = int(vs.track_ids[3])
    resp = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 10, "max_per_artist": None})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    ids = [t["track_id"] for t in body["tracks"]]
    assert len(ids) == 10 and seed not in ids and len(set(ids)) == 10
    scores = [t["score"] for t in body["tracks"]]
    assert scores == sorted(scores, reverse=True)
    # the playlist is the index's nearest neighbours (the small index is probed exhaustively: exact)
    query = vs.vectors[vs.index_of()[seed]]
    assert ids == exact_top(vs, query, exclude={seed})[:10]
    for t in body["tracks"]:
        np.testing.assert_allclose(t["score"], float(vs.vectors[vs.index_of()[t["track_id"]]] @ query), atol=1e-4)
        # joined from the DB: title, artist and genre are the catalog's
        row = catalog.tracks.loc[t["track_id"]]
        assert t["title"] == row["title"] and t["artist"] == row["artist_name"]
        assert t["genre_top"] == (row["genre_top"] if isinstance(row["genre_top"], str) else None)
    assert body["seed_tracks"][0]["track_id"] == seed
    assert body["recipe"]["seed_track_ids"] == [seed]
    assert body["visibility"] == "private"
    me = (await client.get("/api/users/me")).json()
    assert body["owner_id"] == me["id"]

    again = await client.get(f"/api/playlists/{body['id']}")
    assert again.status_code == 200
    assert [t["track_id"] for t in again.json()["tracks"]] == ids
    assert again.json()["title"] == body["title"]


async def test_several_seeds_are_averaged(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    seeds = [int(t) for t in vs.track_ids[[1, 5, 9]]]
    resp = await client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 8, "max_per_artist": None})
    assert resp.status_code == 201, resp.text
    mean = vs.vectors[[vs.index_of()[s] for s in seeds]].mean(axis=0)
    mean /= np.linalg.norm(mean)
    assert [t["track_id"] for t in resp.json()["tracks"]] == exact_top(vs, mean, exclude=set(seeds))[:8]


async def test_genre_filter_is_honoured(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    catalog = stack["catalog"]
    genre_of = {int(t): g for t, g in zip(catalog.tracks.index, catalog.tracks["genre_top"], strict=True)}
    counts = catalog.tracks["genre_top"].value_counts()
    rare = str(counts.index[-1])  # the rarest genre present: fewer tracks than the playlist size
    seed = next(int(t) for t in vs.track_ids if genre_of[int(t)] != rare)
    resp = await client.post(
        "/api/playlists", json={"seed_track_ids": [seed], "size": 20, "genre": rare, "max_per_artist": None}
    )
    assert resp.status_code == 201, resp.text
    tracks = resp.json()["tracks"]
    in_genre = {int(t) for t in vs.track_ids if genre_of[int(t)] == rare}
    assert {t["track_id"] for t in tracks} == in_genre  # all of them, and only them
    assert all(t["genre_top"] == rare for t in tracks)
    query = vs.vectors[vs.index_of()[seed]]
    assert [t["track_id"] for t in tracks] == exact_top(vs, query, exclude={seed}, allowed=in_genre)


def mean_pairwise(vs: VectorSet, ids: list[int]) -> float:
    """Mean cosine between distinct tracks of `ids` (how alike a playlist's tracks are)."""
    v = vs.vectors[[vs.index_of()[t] for t in ids]]
    sims = v @ v.T
    return float((sims.sum() - np.trace(sims)) / (len(ids) * (len(ids) - 1)))


async def test_default_diversity_caps_tracks_per_artist(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    t = stack["catalog"].tracks
    artist = {int(tid): int(a) for tid, a in zip(t.index, t["artist_id"], strict=True)}
    seed = int(vs.track_ids[3])
    query = vs.vectors[vs.index_of()[seed]]
    for cap, payload in ((2, {}), (1, {"max_per_artist": 1})):
        resp = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 10, **payload})
        assert resp.status_code == 201, resp.text
        ids = [t["track_id"] for t in resp.json()["tracks"]]
        # the exact ranking with artists skipped once they have `cap` tracks
        expected: list[int] = []
        taken: dict[int, int] = {}
        for tid in exact_top(vs, query, exclude={seed}):
            if taken.get(artist[tid], 0) < cap and len(expected) < 10:
                expected.append(tid)
                taken[artist[tid]] = taken.get(artist[tid], 0) + 1
        assert ids == expected
        assert resp.json()["recipe"]["max_per_artist"] == cap


async def test_tag_filters_and_why(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    tags = stack["tags"]
    seed = int(vs.track_ids[3])
    mine = tags[seed]
    query = vs.vectors[vs.index_of()[seed]]
    embedded = {int(t) for t in vs.track_ids}
    for filters in ({"mood_style": mine.mood_style}, {"energy": mine.energy, "source": mine.source}):
        resp = await client.post(
            "/api/playlists", json={"seed_track_ids": [seed], "size": 5, "max_per_artist": None, **filters}
        )
        assert resp.status_code == 201, resp.text
        allowed = {t for t in embedded if all(getattr(tags[t], k) == v for k, v in filters.items())}
        ids = [t["track_id"] for t in resp.json()["tracks"]]
        assert ids == exact_top(vs, query, exclude={seed}, allowed=allowed)[:5]
        assert resp.json()["recipe"] | filters == resp.json()["recipe"]
    # "why" names exactly the tags a track shares with the seed
    resp = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 10})
    for t in resp.json()["tracks"]:
        theirs = tags[t["track_id"]]
        assert (f"{mine.mood_style} mood" in t["why"]) == (theirs.mood_style == mine.mood_style), t["why"]
        assert (f"{mine.energy} energy" in t["why"]) == (theirs.energy == mine.energy), t["why"]
        assert (f"{mine.valence} valence" in t["why"]) == (theirs.valence == mine.valence), t["why"]
    stored = (await client.get(f"/api/playlists/{resp.json()['id']}")).json()
    assert [t["why"] for t in stored["tracks"]] == [t["why"] for t in resp.json()["tracks"]]


async def test_discovery_trades_similarity_for_variety(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    from api.playlists.recommend import mmr_order

    vs: VectorSet = stack["vectors"]
    seed = int(vs.track_ids[3])
    query = vs.vectors[vs.index_of()[seed]]
    base = {"seed_track_ids": [seed], "size": 8, "max_per_artist": None}
    plain = [t["track_id"] for t in (await client.post("/api/playlists", json=base)).json()["tracks"]]
    resp = await client.post("/api/playlists", json={**base, "discovery": 1.0})
    assert resp.status_code == 201, resp.text
    novel = [t["track_id"] for t in resp.json()["tracks"]]
    assert novel[0] == plain[0]  # the first pick is still the closest track
    assert mean_pairwise(vs, novel) < mean_pairwise(vs, plain)
    # MMR over a pool of the 4 x size nearest tracks
    pool = exact_top(vs, query, exclude={seed})[:32]
    order = mmr_order(query, vs.vectors[[vs.index_of()[t] for t in pool]], 8, 1.0)
    assert novel == [pool[i] for i in order]
    assert resp.json()["recipe"]["discovery"] == 1.0


async def test_recipe_records_the_index_and_refresh_replays_it(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    vs: VectorSet = stack["vectors"]
    seed = int(vs.track_ids[7])
    made = (await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 6, "discovery": 0.3})).json()
    recipe = made["recipe"]
    assert recipe["encoder_id"] == vs.manifest.encoder_id
    assert recipe["vector_set_id"] == vs.manifest.vector_set_id
    assert recipe["collection"] == stack["index"].current_collection()
    assert (recipe["size"], recipe["max_per_artist"], recipe["discovery"]) == (6, 2, 0.3)
    ids = [t["track_id"] for t in made["tracks"]]
    pid = made["id"]
    await client.patch(f"/api/playlists/{pid}", json={"title": "kept"})
    assert (await client.put(f"/api/playlists/{pid}/tracks", json={"track_ids": ids[:2]})).status_code == 200
    other = await signed_in(client, "refresher")
    assert (await client.post(f"/api/playlists/{pid}/refresh", headers={"Authorization": ""})).status_code == 401
    assert (await client.post(f"/api/playlists/{pid}/refresh", headers=other)).status_code == 404
    await client.patch(f"/api/playlists/{pid}", json={"visibility": "public"})
    assert (await client.post(f"/api/playlists/{pid}/refresh", headers=other)).status_code == 403
    refreshed = await client.post(f"/api/playlists/{pid}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert [t["track_id"] for t in body["tracks"]] == ids  # same index, same recipe: the same playlist
    assert (body["title"], body["visibility"]) == ("kept", "public")
    assert body["recipe"]["refreshed_from"] == recipe["collection"]


async def test_similar_taste_from_generated_playlists(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]

    def taste(track_ids: list[int]) -> np.ndarray:
        mean = vs.vectors[[vs.index_of()[t] for t in track_ids]].mean(axis=0)
        return mean / np.linalg.norm(mean)

    async def make(headers: dict[str, str], seed: int) -> dict[str, Any]:
        resp = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5}, headers=headers)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    me = dict(client.headers)
    mine = await make(me, int(vs.track_ids[3]))
    near, far = await signed_in(client, "near"), await signed_in(client, "far")
    theirs = await make(near, int(vs.track_ids[3]))
    kept = [t["track_id"] for t in theirs["tracks"]][:3]
    # an edit recomputes the stored embedding from the remaining tracks' vectors in the index
    await client.put(f"/api/playlists/{theirs['id']}/tracks", json={"track_ids": kept}, headers=near)
    other = await make(far, int(vs.track_ids[40]))
    for who, pid in ((near, theirs["id"]), (far, other["id"])):
        await client.patch(f"/api/playlists/{pid}", json={"visibility": "public"}, headers=who)
    got = (await client.get("/api/users/me/similar", params={"limit": 50})).json()
    mine_taste = taste([t["track_id"] for t in mine["tracks"]])
    expected = {
        (await client.get("/api/users/me", headers=near)).json()["id"]: float(mine_taste @ taste(kept)),
        (await client.get("/api/users/me", headers=far)).json()["id"]: float(
            mine_taste @ taste([t["track_id"] for t in other["tracks"]])
        ),
    }
    found = {u["id"]: u["similarity"] for u in got if u["id"] in expected}
    assert found == pytest.approx(expected, abs=1e-3)


async def test_taste_row_follows_every_playlist_write(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    """user_tastes after create, publish, unpublish, track removal (recomputed from the index), refresh, delete,
    a playlist left without an embedding (computed by the next taste query) and the account's deletion."""
    from sqlalchemy import delete

    from api.db.models import Playlist, User, UserTaste
    from api.social.taste import TasteRepository

    vs: VectorSet = stack["vectors"]
    factory = session_factory(stack["settings"].sqlalchemy_url)
    me = (await client.get("/api/users/me")).json()["id"]

    def unit(rows: list[np.ndarray]) -> np.ndarray:
        mean = np.mean(rows, axis=0)
        return np.asarray(mean / np.linalg.norm(mean))

    def embedding(track_ids: list[int]) -> np.ndarray:  # a playlist's: unit mean of its tracks' vectors
        return unit([vs.vectors[vs.index_of()[t]] for t in track_ids])

    def row() -> tuple[np.ndarray | None, int, int] | None:
        with factory() as s:
            r = s.get(UserTaste, me)
            if r is None:
                return None
            taste = None if r.public_taste is None else np.frombuffer(r.public_taste, dtype=np.float32)
            return taste, r.n_public, r.n_stale

    def assert_taste(*playlists: list[int]) -> None:
        got = row()
        assert got is not None and got[1:] == (len(playlists), 0)
        if not playlists:
            assert got[0] is None
        else:
            assert got[0] is not None
            assert got[0] == pytest.approx(unit([embedding(p) for p in playlists]), abs=1e-5)

    async def make(seed: int) -> tuple[str, list[int]]:
        resp = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})
        assert resp.status_code == 201, resp.text
        return resp.json()["id"], [t["track_id"] for t in resp.json()["tracks"]]

    async def publish(pid: str, visibility: str) -> None:
        resp = await client.patch(f"/api/playlists/{pid}", json={"visibility": visibility})
        assert resp.status_code == 200, resp.text

    a, a_ids = await make(int(vs.track_ids[5]))
    assert_taste()  # made private: a row without a public taste
    await publish(a, "public")
    assert_taste(a_ids)
    b, b_ids = await make(int(vs.track_ids[50]))
    await publish(b, "public")
    assert_taste(a_ids, b_ids)
    kept = [b_ids[4], b_ids[1]]  # removal: the embedding of what is left, right away
    assert (await client.put(f"/api/playlists/{b}/tracks", json={"track_ids": kept})).status_code == 200
    assert_taste(a_ids, kept)
    await publish(a, "private")
    assert_taste(kept)
    await publish(a, "public")
    assert_taste(a_ids, kept)
    refreshed = await client.post(f"/api/playlists/{b}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert_taste(a_ids, [t["track_id"] for t in refreshed.json()["tracks"]])
    assert (await client.delete(f"/api/playlists/{b}")).status_code == 204
    assert_taste(a_ids)

    # a public playlist without an embedding (made before they were stored): counted, and computed from the
    # index by the next "similar taste" query of anyone
    with transaction(factory) as s:
        s.get(Playlist, a).embedding = None  # type: ignore[union-attr]
        TasteRepository(s).refresh(me)
    assert row() is not None and row()[1:] == (1, 1)  # type: ignore[index]
    other = await signed_in(client, "other")
    await client.post("/api/playlists", json={"seed_track_ids": [int(vs.track_ids[5])], "size": 5}, headers=other)
    similar = (await client.get("/api/users/me/similar", headers=other)).json()
    assert me in {u["id"] for u in similar}
    assert_taste(a_ids)

    with transaction(factory) as s:
        s.execute(delete(User).where(User.id == me))
    assert row() is None


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"seed_track_ids": []}, "seed_track_ids"),
        ({"seed_track_ids": list(range(1, 12))}, "seed_track_ids"),
        ({"seed_track_ids": [2], "size": 0}, "size"),
        ({"seed_track_ids": [2], "size": 4}, "size"),
        ({"seed_track_ids": [2], "size": 101}, "size"),
        ({"seed_track_ids": [2], "mood_style": "angry"}, "mood_style"),
        ({"seed_track_ids": [2], "energy": 3}, "energy"),
        ({"seed_track_ids": [2], "max_per_artist": 0}, "max_per_artist"),
        ({"seed_track_ids": [2], "discovery": 1.5}, "discovery"),
        ({"seed_track_ids": [2], "discovery": "lots"}, "discovery"),
        ({"seed_track_ids": ["abc"]}, "seed_track_ids"),
        ({"seed_track_ids": [2, 2]}, "repeat"),
        ({"size": 5}, "seed_track_ids"),
        ({"seed_track_ids": [2], "colour": "blue"}, "colour"),
    ],
)
async def test_invalid_requests_get_problem_json(
    client: httpx.AsyncClient, payload: dict[str, Any], fragment: str
) -> None:
    resp = await client.post("/api/playlists", json=payload)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == 422 and body["instance"] == "/api/playlists"
    assert fragment in body["detail"]


async def test_filters_that_match_nothing_are_refused(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    seed = int(stack["vectors"].track_ids[0])
    before = (await client.get("/api/playlists")).json()
    resp = await client.post("/api/playlists", json={"seed_track_ids": [seed], "genre": "No Such Genre"})
    assert resp.status_code == 422 and resp.json()["reason"] == "no_match"
    assert (await client.get("/api/playlists")).json() == before  # nothing stored


async def test_unknown_seed_and_unknown_playlist(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/playlists", json={"seed_track_ids": [987654321]})
    assert resp.status_code == 422 and resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["unknown_track_ids"] == [987654321]
    missing = await client.get("/api/playlists/" + "0" * 32)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    bad = await client.get("/api/playlists/not-an-id!")
    assert bad.status_code == 422
    body = await client.post("/api/playlists", content=b"{not json", headers={"content-type": "application/json"})
    assert body.status_code == 422 and body.headers["content-type"].startswith(PROBLEM)


async def test_health_ready_and_tracks(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["vector_index"]["rows"] == len(stack["vectors"])
    assert (await client.get("/metrics")).status_code == 200


async def test_track_detail_has_genres_tags_and_audio(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    catalog = stack["catalog"]
    tid = int(catalog.with_audio().index[0])
    one = await client.get(f"/api/tracks/{tid}")
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["track_id"] == tid and body["embedded"] is True
    assert [g["genre_id"] for g in body["genres"]] == list(catalog.tracks.loc[tid, "genres_all"])
    truth = stack["tags"][tid]
    assert body["tags"] == {
        "mood_style": truth.mood_style,
        "energy": truth.energy,
        "valence": truth.valence,
        "source": truth.source,
    }
    assert body["audio_url"] == f"http://museed.test/api/tracks/{tid}/audio"
    assert (await client.get(f"/api/tracks/{tid}/audio")).status_code == 200
    assert (await client.get("/api/tracks/999999999")).status_code == 404
    assert (await client.get("/api/tracks/not-a-number")).status_code == 422


async def test_library_search_with_facets_and_pages(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    t = stack["catalog"].tracks
    text = {
        int(tid): f"{title} {artist} {album or ''}".lower()
        for tid, title, artist, album in zip(t.index, t["title"], t["artist_name"], t["album_title"], strict=True)
    }
    genre_of = {int(tid): g if isinstance(g, str) else None for tid, g in zip(t.index, t["genre_top"], strict=True)}

    everything = (await client.get("/api/tracks", params={"limit": 500})).json()
    assert everything["total"] == len(t) and [x["track_id"] for x in everything["items"]] == sorted(text)
    assert sum(f["count"] for f in everything["facets"]["genre_top"]) == len(t)

    # a word from an artist name with a non-ASCII letter, typed in another case
    artist = next(a for a in t["artist_name"] if any(ord(c) > 127 for c in a))
    word = next(w for w in artist.split() if any(ord(c) > 127 for c in w)).upper()
    found = (await client.get("/api/tracks", params={"q": word, "limit": 500})).json()
    expected = sorted(tid for tid, s in text.items() if word.lower() in s)
    assert expected and sorted(x["track_id"] for x in found["items"]) == expected
    assert found["total"] == len(expected)
    facet = {f["value"]: f["count"] for f in found["facets"]["genre_top"]}
    assert facet == {g: sum(genre_of[x] == g for x in expected) for g in {genre_of[x] for x in expected}}

    # every word must match; the genre filter narrows the page but not the facet
    title = str(t.loc[int(t.index[5]), "title"])
    words = title.split()[:2]
    both = sorted(tid for tid, s in text.items() if all(w.lower() in s for w in words))
    g = genre_of[int(t.index[5])]
    narrowed = (await client.get("/api/tracks", params={"q": " ".join(words), "genre": g, "limit": 500})).json()
    assert sorted(x["track_id"] for x in narrowed["items"]) == sorted(x for x in both if genre_of[x] == g)
    assert sum(f["count"] for f in narrowed["facets"]["genre_top"]) == len(both)
    # an exact title ranks first
    exact = (await client.get("/api/tracks", params={"q": title})).json()
    assert exact["items"][0]["title"].lower() == title.lower()

    # pages: disjoint, in order, covering everything
    pages = [(await client.get("/api/tracks", params={"limit": 10, "offset": o})).json()["items"] for o in (0, 10)]
    assert [x["track_id"] for x in pages[0] + pages[1]] == sorted(text)[:20]
    # LIKE wildcards are plain characters; too many words, bad paging are refused
    assert (await client.get("/api/tracks", params={"q": "%"})).json()["total"] == sum("%" in s for s in text.values())
    assert (await client.get("/api/tracks", params={"q": "a b c d e f g h i"})).status_code == 422
    assert (await client.get("/api/tracks", params={"limit": 0})).status_code == 422
    assert (await client.get("/api/tracks", params={"offset": -1})).status_code == 422


async def test_creating_a_playlist_needs_an_account(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    seed = int(stack["vectors"].track_ids[0])
    resp = await client.post("/api/playlists", json={"seed_track_ids": [seed]}, headers={"Authorization": ""})
    assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)


async def test_playlist_management_and_authorisation(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    seed = int(stack["vectors"].track_ids[2])
    made = (await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 6})).json()
    pid, ids = made["id"], [t["track_id"] for t in made["tracks"]]
    other = await signed_in(client, "stranger")
    anonymous = {"Authorization": ""}

    # private: the owner sees it, nobody else learns it exists
    for headers in (other, anonymous):
        resp = await client.get(f"/api/playlists/{pid}", headers=headers)
        assert resp.status_code == 404 and resp.headers["content-type"].startswith(PROBLEM)
        assert (await client.get(f"/api/playlists/{pid}/export.m3u", headers=headers)).status_code == 404
    assert (await client.patch(f"/api/playlists/{pid}", json={"title": "mine"}, headers=other)).status_code == 404
    assert (await client.delete(f"/api/playlists/{pid}", headers=other)).status_code == 404
    assert (await client.patch(f"/api/playlists/{pid}", json={"title": "x"}, headers=anonymous)).status_code == 401

    # rename and publish
    upd = await client.patch(f"/api/playlists/{pid}", json={"title": "Night drive", "visibility": "public"})
    assert upd.status_code == 200 and upd.json()["title"] == "Night drive" and upd.json()["visibility"] == "public"
    assert (await client.patch(f"/api/playlists/{pid}", json={"visibility": "secret"})).status_code == 422
    assert (await client.patch(f"/api/playlists/{pid}", json={"title": "   "})).status_code == 422
    # public: everyone reads it; only the owner changes it (403 now that it is visible)
    assert (await client.get(f"/api/playlists/{pid}", headers=anonymous)).status_code == 200
    assert (await client.patch(f"/api/playlists/{pid}", json={"title": "hijack"}, headers=other)).status_code == 403
    order = {"track_ids": list(reversed(ids))}
    assert (await client.put(f"/api/playlists/{pid}/tracks", json=order, headers=other)).status_code == 403

    # reorder + remove, and refuse tracks that were not in the playlist
    new_order = [ids[3], ids[0], ids[5]]
    put = await client.put(f"/api/playlists/{pid}/tracks", json={"track_ids": new_order})
    assert put.status_code == 200, put.text
    assert [t["track_id"] for t in put.json()["tracks"]] == new_order
    assert [t["position"] for t in put.json()["tracks"]] == [0, 1, 2]
    assert [t["score"] for t in put.json()["tracks"]] == [
        next(x["score"] for x in made["tracks"] if x["track_id"] == t) for t in new_order
    ]
    stranger_track = next(int(t) for t in stack["vectors"].track_ids if int(t) not in ids and int(t) != seed)
    bad = await client.put(f"/api/playlists/{pid}/tracks", json={"track_ids": [ids[0], stranger_track]})
    assert bad.status_code == 422 and bad.json()["foreign_track_ids"] == [stranger_track]
    reread = await client.get(f"/api/playlists/{pid}")
    assert [t["track_id"] for t in reread.json()["tracks"]] == new_order  # the refused edit changed nothing

    # exports
    m3u = await client.get(f"/api/playlists/{pid}/export.m3u", headers=anonymous)
    assert m3u.status_code == 200 and m3u.headers["content-type"].startswith("audio/x-mpegurl")
    lines = m3u.text.splitlines()
    assert lines[0] == "#EXTM3U" and sum(line.startswith("#EXTINF:") for line in lines) == 3
    assert lines[-1] == f"http://museed.test/api/tracks/{new_order[-1]}/audio"
    xspf = await client.get(f"/api/playlists/{pid}/export.xspf")
    assert xspf.status_code == 200
    from xml.etree import ElementTree as ET

    tree = ET.fromstring(xspf.text)
    ns = {"x": "http://xspf.org/ns/0/"}
    assert tree.findtext("x:title", namespaces=ns) == "Night drive"
    assert len(tree.findall("x:trackList/x:track", ns)) == 3

    # my playlists; delete
    mine = (await client.get("/api/playlists")).json()
    assert any(p["id"] == pid and p["n_tracks"] == 3 for p in mine)
    assert (await client.get("/api/playlists", headers=other)).json() == []
    assert (await client.delete(f"/api/playlists/{pid}")).status_code == 204
    assert (await client.get(f"/api/playlists/{pid}")).status_code == 404


async def test_track_audio_streams_with_ranges(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    tid = int(stack["catalog"].with_audio().index[0])
    full = await client.get(f"/api/tracks/{tid}/audio")
    assert full.status_code == 200 and full.headers["content-type"] == "audio/mpeg"
    assert full.headers["accept-ranges"] == "bytes"
    part = await client.get(f"/api/tracks/{tid}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    assert (await client.get("/api/tracks/999999999/audio")).status_code == 404


async def test_upload_of_a_reencoded_library_track_finds_it_first(
    client: httpx.AsyncClient, stack: dict[str, Any], tmp_path: Path
) -> None:
    import soundfile as sf

    tid = int(stack["catalog"].with_audio().index[5])
    audio, sr = sf.read(stack["catalog"].tracks.loc[tid, "audio_path"], dtype="float32")
    flac = tmp_path / "my demo.flac"
    sf.write(flac, 0.8 * audio, sr, format="FLAC")  # another codec and a gain change
    resp = await client.post("/api/uploads", files={"file": ("my demo.flac", flac.read_bytes(), "audio/flac")})
    assert resp.status_code == 201, resp.text
    up = resp.json()
    assert up["encoder_id"] == stack["encoder"].encoder_id and up["duration_seconds"] > 3
    # analysed on arrival: each axis voted by the 20 nearest library tracks
    analysis = up["analysis"]
    assert analysis["method"] == "neighbour vote" and analysis["neighbours"] == 20
    assert set(analysis["tags"]) == {"genre_top", "mood_style", "energy", "valence", "source"}
    assert all(0 < v["share"] <= 1 for v in analysis["tags"].values())
    me = (await client.get("/api/users/me")).json()
    badges = (await client.get(f"/api/users/{me['id']}/badges")).json()
    assert "first_upload" in {b["badge"] for b in badges}
    assert [u["id"] for u in (await client.get("/api/uploads")).json()] == [up["id"]]

    made = await client.post("/api/playlists", json={"seed_upload_id": up["id"], "size": 5})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["tracks"][0]["track_id"] == tid and body["tracks"][0]["score"] > 0.99
    assert body["seed_upload_id"] == up["id"] and body["seed_tracks"] == []
    assert body["title"] == "Like “my demo.flac”"
    # creators can ask to leave the near-duplicate out
    fresh = await client.post(
        "/api/playlists", json={"seed_upload_id": up["id"], "size": 5, "exclude_near_duplicates": True}
    )
    assert tid not in [t["track_id"] for t in fresh.json()["tracks"]]

    # the upload is private: another user can neither seed with it, nor see, nor delete it
    other = await signed_in(client, "someone-else")
    assert (await client.post("/api/playlists", json={"seed_upload_id": up["id"]}, headers=other)).status_code == 404
    assert (await client.get("/api/uploads", headers=other)).json() == []
    # published, the playlist shows others its tracks but not which private upload seeded it
    await client.patch(f"/api/playlists/{body['id']}", json={"visibility": "public"})
    seen = (await client.get(f"/api/playlists/{body['id']}", headers=other)).json()
    assert seen["seed_upload_id"] is None and seen["recipe"]["seed_upload_id"] is None
    assert seen["recipe"]["seed_profile"] == {} and seen["tracks"] == body["tracks"]
    assert (await client.get(f"/api/playlists/{body['id']}")).json()["seed_upload_id"] == up["id"]
    assert (await client.delete(f"/api/uploads/{up['id']}", headers=other)).status_code == 404
    assert (await client.delete(f"/api/uploads/{up['id']}")).status_code == 204
    assert (await client.post("/api/playlists", json={"seed_upload_id": up["id"]})).status_code == 404


def test_upload_analysis_is_the_neighbours_majority(stack: dict[str, Any]) -> None:
    from api.uploads.service import analyse

    vs: VectorSet = stack["vectors"]
    for i in (0, 11, 40):
        vector = vs.vectors[i]
        analysis = analyse(stack["index"], [float(x) for x in vector], neighbours=15)
        nearest = exact_top(vs, vector, exclude=set())[:15]
        for axis in ("mood_style", "energy", "source"):
            labels = [getattr(stack["tags"][t], axis) for t in nearest]
            vote = analysis["tags"][axis]
            assert labels.count(vote["value"]) == max(labels.count(x) for x in labels)
            assert vote["share"] == pytest.approx(labels.count(vote["value"]) / 15, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "payload", "status", "reason"),
    [
        ("empty.mp3", b"", 422, "empty"),
        ("notes.mp3", b"these are not the sounds you are looking for" * 50, 422, "not_audio"),
        ("huge.wav", b"\0" * (3 * 1024 * 1024), 413, "too_large"),
        ("script.exe", b"MZ" * 100, 422, "not_audio"),
    ],
)
async def test_bad_uploads_are_refused_and_leave_nothing(
    client: httpx.AsyncClient, stack: dict[str, Any], name: str, payload: bytes, status: int, reason: str
) -> None:
    before = (await client.get("/api/uploads")).json()
    resp = await client.post("/api/uploads", files={"file": (name, payload, "application/octet-stream")})
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM) and resp.json()["reason"] == reason
    assert (await client.get("/api/uploads")).json() == before
    me = (await client.get("/api/users/me")).json()
    folder = stack["settings"].data_dir / "uploads" / me["id"]
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_too_short_upload_and_anonymous_upload(client: httpx.AsyncClient, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    short = tmp_path / "blip.wav"
    sf.write(short, 0.3 * np.sin(np.linspace(0, 800, 22050)).astype("float32"), 44100)  # 0.5 s
    resp = await client.post("/api/uploads", files={"file": ("blip.wav", short.read_bytes(), "audio/wav")})
    assert resp.status_code == 422 and resp.json()["reason"] == "too_short"
    anon = await client.post(
        "/api/uploads", files={"file": ("blip.wav", short.read_bytes(), "audio/wav")}, headers={"Authorization": ""}
    )
    assert anon.status_code == 401
    missing = await client.post("/api/uploads", data={"nothing": "here"})
    assert missing.status_code == 422 and missing.headers["content-type"].startswith(PROBLEM)
