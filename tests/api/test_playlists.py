"""Playlists end to end over HTTP: seeds -> Milvus search -> DB join -> playlist JSON, its options (filters,
diversity, discovery, recipe and refresh), refusals and management (on both stacks of conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from museed.vectorset import VectorSet
from tests.api.conftest import PROBLEM, exact_top, signed_in


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
    from discovery.dial import mmr_order

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
    # same index, same recipe: a full playlist of tracks it never served before (test_refresh_fork.py has the rest)
    fresh = [t["track_id"] for t in body["tracks"]]
    assert len(fresh) == 6 and not set(fresh) & set(ids)
    assert (body["title"], body["visibility"]) == ("kept", "public")
    assert body["recipe"]["refreshed_from"] == recipe["collection"]


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
