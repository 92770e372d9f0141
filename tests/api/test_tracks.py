"""The library over HTTP: track detail (genres, tags, audio link), search with facets and pages, audio streaming
with ranges (on both stacks of conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx


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


async def test_track_audio_streams_with_ranges(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    tid = int(stack["catalog"].with_audio().index[0])
    full = await client.get(f"/api/tracks/{tid}/audio")
    assert full.status_code == 200 and full.headers["content-type"] == "audio/mpeg"
    assert full.headers["accept-ranges"] == "bytes"
    part = await client.get(f"/api/tracks/{tid}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    assert (await client.get("/api/tracks/999999999/audio")).status_code == 404
