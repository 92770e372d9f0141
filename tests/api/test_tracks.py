"""The library over HTTP: track detail (genres, tags, audio link), search with facets and pages, audio streaming
with ranges (on both stacks of conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest


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


async def test_capped_search_counts_a_bounded_prefix_and_keeps_the_ranked_order(
    client: httpx.AsyncClient, stack: dict[str, Any], monkeypatch: Any
) -> None:
    """With more text matches than the count cap, the total and the facets count the first `cap` matches by id and
    say so, while every page (read tier by tier) is the page the uncapped ranking gives."""
    import api.tracks.service as track_service

    t = stack["catalog"].tracks
    text = {
        int(tid): f"{title} {artist} {album or ''}".lower()
        for tid, title, artist, album in zip(t.index, t["title"], t["artist_name"], t["album_title"], strict=True)
    }
    genre_of = {int(tid): g if isinstance(g, str) else None for tid, g in zip(t.index, t["genre_top"], strict=True)}
    words: dict[str, int] = {}
    for s in text.values():
        for w in set(s.split()):
            words[w] = words.get(w, 0) + 1
    common = max(words, key=lambda w: (words[w], w))
    queries = [common, str(t["title"].iloc[3]).split()[0], str(t["artist_name"].iloc[7]).split()[0], t["title"].iloc[5]]

    async def get(**params: Any) -> dict[str, Any]:
        r = await client.get("/api/tracks", params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    checked = 0
    for q in queries:
        full = await get(q=q, limit=500)
        assert full["total_is_lower_bound"] is False and full["facets_counted_up_to"] is None
        n = full["total"]
        if n < 2:
            continue
        cap = n // 2
        monkeypatch.setattr(track_service, "SEARCH_COUNT_CAP", cap)
        capped = await get(q=q, limit=500)
        assert [x["track_id"] for x in capped["items"]] == [x["track_id"] for x in full["items"]], q
        assert capped["total"] == cap and capped["total_is_lower_bound"] is True
        assert capped["facets_counted_up_to"] == cap
        # the facets count `cap` of the matches (the first the scan meets): each count at most the true one
        truth = {f["value"]: f["count"] for f in full["facets"]["genre_top"]}
        counted = {f["value"]: f["count"] for f in capped["facets"]["genre_top"]}
        assert sum(counted.values()) == cap and all(0 < n <= truth[g] for g, n in counted.items())
        assert [f["count"] for f in capped["facets"]["genre_top"]] == sorted(counted.values(), reverse=True)
        if stack["settings"].database_url.startswith("sqlite"):
            first = sorted(x["track_id"] for x in full["items"])[:cap]  # SQLite scans in track id order
            assert counted == {g: sum(genre_of[x] == g for x in first) for g in {genre_of[x] for x in first}}
        # small pages across the rank tiers give the same order, nothing repeated or skipped
        paged: list[int] = []
        for offset in range(0, n + 2, 2):
            paged += [x["track_id"] for x in (await get(q=q, limit=2, offset=offset))["items"]]
        assert paged == [x["track_id"] for x in full["items"]], q
        # a genre within the capped text matches: its own bounded count
        g = genre_of[full["items"][0]["track_id"]]
        if g is not None:
            in_g = [x["track_id"] for x in full["items"] if genre_of[x["track_id"]] == g]
            narrowed = await get(q=q, genre=g, limit=500)
            assert [x["track_id"] for x in narrowed["items"]] == in_g
            assert narrowed["total"] == min(len(in_g), cap)
            assert narrowed["total_is_lower_bound"] is (len(in_g) > cap)
        monkeypatch.setattr(track_service, "SEARCH_COUNT_CAP", 2000)
        checked += 1
    assert checked >= 2
    # no text query: exact counts, whatever the cap
    monkeypatch.setattr(track_service, "SEARCH_COUNT_CAP", 1)
    everything = await get(limit=5)
    assert everything["total"] == len(t) and everything["total_is_lower_bound"] is False
    assert everything["facets_counted_up_to"] is None


def test_capped_repository_search_pages_like_the_uncapped_ranking(db_url: str, small_corpus: Any) -> None:
    """The repository alone (both databases, no vector index): with a cap below the matches, every page and
    offset of the tiered reads equals the uncapped ranked page, with and without a genre."""
    from api.db.load import load_catalog_into_db
    from api.db.session import session_factory, transaction
    from api.tracks.repository import TrackRepository
    from museed.catalog import load_catalog

    catalog = load_catalog(small_corpus)
    factory = session_factory(db_url)
    with transaction(factory) as s:
        load_catalog_into_db(s, catalog)
    t = catalog.tracks
    words: dict[str, int] = {}
    for title, artist in zip(t["title"], t["artist_name"], strict=True):
        for w in set(f"{title} {artist}".lower().split()):
            words[w] = words.get(w, 0) + 1
    queries = [[max(words, key=lambda w: (words[w], w))], str(t["artist_name"].iloc[2]).split()[:1]]
    queries.append(str(t["title"].iloc[1]).split()[:1])
    checked = 0
    with factory() as s:
        repo = TrackRepository(s)
        for terms in queries:
            full, n, _, bound, counted = repo.search(terms, None, 500, 0)
            assert not bound and counted is None and n == len(full)
            if n < 2:
                continue
            checked += 1
            cap = n // 2
            for genre in (None, full[0].genre_top):
                truth = [x.track_id for x in full if genre is None or x.genre_top == genre]
                for limit, offset in ((500, 0), (1, 0), (2, 1), (3, cap), (2, n - 1), (5, n + 3)):
                    rows, total, capped_facets, bound, counted = repo.search(terms, genre, limit, offset, cap)
                    assert [x.track_id for x in rows] == truth[offset : offset + limit], (terms, genre, limit, offset)
                    assert counted == cap and sum(c for _, c in capped_facets) == cap
                    assert total == min(len(truth), cap) and bound is (genre is None or len(truth) > cap)
    assert checked >= 2


async def test_a_repeated_search_is_answered_from_the_process_cache(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same words (any case), genre and page within the TTL: one query; another page or genre: another; a
    zero TTL: every search queries."""
    from api.app import create_app
    from api.tracks.repository import TrackRepository

    calls: list[tuple[Any, ...]] = []
    real = TrackRepository.search

    def counted(self: TrackRepository, terms: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((tuple(terms), kwargs.get("genre"), kwargs.get("offset")))
        return real(self, terms, *args, **kwargs)

    monkeypatch.setattr(TrackRepository, "search", counted)
    word = str(stack["catalog"].tracks["title"].iloc[0]).split()[0]
    for ttl, expected in ((60.0, 3), (0.0, 4)):
        calls.clear()
        settings = stack["settings"].model_copy(update={"search_cache_seconds": ttl})
        app = create_app(settings=settings, track_index=stack["index"], encoder=stack["encoder"])
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
                first = await c.get("/api/tracks", params={"q": word})
                again = await c.get("/api/tracks", params={"q": word.upper()})
                assert first.status_code == again.status_code == 200
                assert again.json() == first.json()
                assert (await c.get("/api/tracks", params={"q": word, "offset": 1})).status_code == 200
                assert (await c.get("/api/tracks", params={"q": word, "genre": "Rock"})).status_code == 200
        assert len(calls) == expected, calls


def test_the_search_cache_expires_and_evicts() -> None:
    from api.tracks.search_cache import SearchCache

    cache: SearchCache[str] = SearchCache(ttl_seconds=0.2, max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # now the most recently used
    cache.put("c", "C")  # evicts "b", the least recently used
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C" and len(cache) == 2
    time.sleep(0.25)
    assert cache.get("a") is None and cache.get("c") is None
    off: SearchCache[str] = SearchCache(ttl_seconds=0, max_entries=10)
    off.put("a", "A")
    assert off.get("a") is None and len(off) == 0
