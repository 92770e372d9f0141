"""JSPF export beside M3U and XSPF: the same tracks in the same order as the playlist and its XSPF, every field
the JSPF draft names in its shape (track `location` / `identifier` arrays, milliseconds), stream URLs that play,
and the readers the playlist has (private ones stay hidden)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import httpx

from api.playlists.export import XSPF_NS
from tests.api.conftest import PROBLEM, signed_in


async def test_jspf_holds_the_playlist_in_order(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    seed = int(stack["vectors"].track_ids[6])
    made = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 6, "title": "Night “drive”"})
    assert made.status_code == 201, made.text
    playlist = made.json()
    resp = await client.get(f"/api/playlists/{playlist['id']}/export.jspf")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/jspf+json")
    assert resp.headers["content-disposition"] == f'attachment; filename="museed-{playlist["id"]}.jspf"'
    jspf = json.loads(resp.content)["playlist"]
    assert jspf["title"] == "Night “drive”"
    assert jspf["identifier"] == f"http://museed.test/api/playlists/{playlist['id']}"
    assert jspf["date"].startswith(playlist["created_at"][:19])
    tracks = jspf["track"]
    assert [t["identifier"] for t in tracks] == [
        [f"http://museed.test/api/tracks/{p['track_id']}"] for p in playlist["tracks"]
    ]
    for i, (t, p) in enumerate(zip(tracks, playlist["tracks"], strict=True), start=1):
        assert t["location"] == [f"http://museed.test/api/tracks/{p['track_id']}/audio"]
        assert t["title"] == p["title"] and t["creator"] == p["artist"] and t["trackNum"] == i
        assert t["duration"] == int(p["duration_seconds"] * 1000)
        assert t.get("album") == p["album"] or (p["album"] is None and "album" not in t)
        ext = t["extension"]["http://museed.test/jspf/track"][0]
        assert ext["score"] == p["score"] and ext["why"] == p["why"]
    # the same tracks as the XSPF export, in the same order
    xspf = ET.fromstring((await client.get(f"/api/playlists/{playlist['id']}/export.xspf")).text)
    ns = {"x": XSPF_NS}
    assert [e.text for e in xspf.findall("x:trackList/x:track/x:location", ns)] == [t["location"][0] for t in tracks]
    # a location plays
    audio = await client.get(tracks[0]["location"][0].removeprefix("http://museed.test"))
    assert audio.status_code == 200 and audio.headers["content-type"].startswith("audio/")


async def test_jspf_of_a_private_playlist_is_hidden_from_others(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    seed = int(stack["vectors"].track_ids[7])
    pid = (await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})).json()["id"]
    other = await signed_in(client, "other")
    for headers in (other, {"Authorization": ""}):
        resp = await client.get(f"/api/playlists/{pid}/export.jspf", headers=headers)
        assert resp.status_code == 404 and resp.headers["content-type"] == PROBLEM
    await client.patch(f"/api/playlists/{pid}", json={"visibility": "public"})
    public = await client.get(f"/api/playlists/{pid}/export.jspf", headers={"Authorization": ""})
    assert public.status_code == 200 and len(public.json()["playlist"]["track"]) == 5
