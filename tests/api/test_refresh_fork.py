"""Recipes that refresh well (both stacks of conftest.py): a refresh keeps the tracks the owner kept, tops the
playlist up with tracks it never served before and the owner never marked heard, and explains itself when the
library runs out; public playlists fork with their recipe, private ones do not, forks of forks do."""

from __future__ import annotations

from typing import Any

import httpx

from museed.vectorset import VectorSet
from tests.api.conftest import PROBLEM, signed_in

ME = "/api/users/me"


async def _playlist(client: httpx.AsyncClient, body: dict[str, Any], headers: Any = None) -> dict[str, Any]:
    resp = await client.post("/api/playlists", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    made: dict[str, Any] = resp.json()
    return made


async def _refresh(client: httpx.AsyncClient, playlist_id: str) -> dict[str, Any]:
    resp = await client.post(f"/api/playlists/{playlist_id}/refresh")
    assert resp.status_code == 200, resp.text
    refreshed: dict[str, Any] = resp.json()
    return refreshed


def _ids(playlist: dict[str, Any]) -> list[int]:
    return [t["track_id"] for t in playlist["tracks"]]


async def test_refresh_keeps_kept_tracks_and_never_repeats(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    seed = int(vs.track_ids[7])
    made = await _playlist(client, {"seed_track_ids": [seed], "size": 6, "max_per_artist": None})
    pid, first = made["id"], _ids(made)
    kept = [first[1], first[4]]
    for t in kept:
        assert (await client.put(f"/api/playlists/{pid}/tracks/{t}/keep")).status_code == 204
    assert (await client.put(f"/api/playlists/{pid}/tracks/{kept[0]}/keep")).status_code == 204  # idempotent
    shown = (await client.get(f"/api/playlists/{pid}")).json()
    assert [t["track_id"] for t in shown["tracks"] if t["kept"]] == kept

    served = set(first)
    for round_ in range(3):
        body = await _refresh(client, pid)
        ids = _ids(body)
        assert len(ids) == 6 and len(set(ids)) == 6 and seed not in ids
        assert ids[:2] == kept, round_  # kept tracks stay first, in their order, still marked
        assert [t["kept"] for t in body["tracks"]] == [True, True, False, False, False, False]
        new = ids[2:]
        assert not set(new) & served, (round_, set(new) & served)  # never a track this playlist served before
        assert body["recipe"]["kept"] == 2 and body["recipe"]["left_out"]["served_before"] == len(served) - 2
        served |= set(new)

    # a track no longer kept is replaced by the next refresh, and not served again later
    assert (await client.delete(f"/api/playlists/{pid}/tracks/{kept[1]}/keep")).status_code == 204
    assert (await client.delete(f"/api/playlists/{pid}/tracks/{kept[1]}/keep")).status_code == 204  # idempotent
    body = await _refresh(client, pid)
    assert _ids(body)[0] == kept[0] and kept[1] not in _ids(body)
    assert not set(_ids(body)[1:]) & served


async def test_heard_tracks_are_left_out_of_new_and_refreshed_playlists(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    vs: VectorSet = stack["vectors"]
    request = {"seed_track_ids": [int(vs.track_ids[30])], "size": 6, "max_per_artist": None}
    plain = await _playlist(client, request)
    heard = _ids(plain)[:2]
    for t in heard:
        assert (await client.put(f"{ME}/heard/{t}")).status_code == 204
    assert (await client.put(f"{ME}/heard/{heard[0]}")).status_code == 204  # idempotent
    listed = (await client.get(f"{ME}/heard")).json()
    assert listed["total"] == 2 and {t["track_id"] for t in listed["items"]} == set(heard)

    fresh = await _playlist(client, request)
    assert not set(heard) & set(_ids(fresh)) and len(_ids(fresh)) == 6
    assert fresh["recipe"]["left_out"] == {"heard": 2, "served_before": 0}
    # the earlier playlist keeps a heard track it was told to keep; the other heard one is not served again
    assert (await client.put(f"/api/playlists/{plain['id']}/tracks/{heard[0]}/keep")).status_code == 204
    refreshed = await _refresh(client, plain["id"])
    assert _ids(refreshed)[0] == heard[0] and heard[1] not in _ids(refreshed)

    assert (await client.delete(f"{ME}/heard/{heard[1]}")).status_code == 204
    assert [t["track_id"] for t in (await client.get(f"{ME}/heard")).json()["items"]] == [heard[0]]
    # another listener's playlists do not follow my heard marks
    other = await signed_in(client, "other-ears")
    assert heard[0] in _ids(await _playlist(client, request, headers=other))
    missing = await client.put(f"{ME}/heard/2000000000")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    assert (await client.put(f"{ME}/heard/0")).status_code == 422
    assert (await client.get(f"{ME}/heard", headers={"Authorization": ""})).status_code == 401


async def test_refresh_runs_out_explained(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    library = len(vs.track_ids)
    size = 30
    made = await _playlist(client, {"seed_track_ids": [int(vs.track_ids[2])], "size": size, "max_per_artist": None})
    pid, served = made["id"], set(_ids(made))
    left = library - 1 - len(served)  # all but the seed and what it served
    while left >= size:
        body = await _refresh(client, pid)
        assert len(_ids(body)) == size and not set(_ids(body)) & served
        served |= set(_ids(body))
        left -= size
    if left:
        short = await _refresh(client, pid)
        assert len(_ids(short)) == left and short["recipe"]["shortfall"].startswith(f"asked for {size}, found {left}")
        served |= set(_ids(short))
    gone = await client.post(f"/api/playlists/{pid}/refresh")
    assert gone.status_code == 422 and gone.headers["content-type"].startswith(PROBLEM)
    assert gone.json()["reason"] == "no_match" and gone.json()["served_before"] == library - 1
    # with a kept track, an exhausted recipe leaves the kept track alone in the playlist
    last = _ids((await client.get(f"/api/playlists/{pid}")).json())[0]
    assert (await client.put(f"/api/playlists/{pid}/tracks/{last}/keep")).status_code == 204
    body = await _refresh(client, pid)
    assert _ids(body) == [last] and body["recipe"]["shortfall"]


async def test_keep_marks_are_the_owners(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    made = await _playlist(client, {"seed_track_ids": [int(vs.track_ids[11])], "size": 5})
    pid, track = made["id"], _ids(made)[0]
    absent = await client.put(f"/api/playlists/{pid}/tracks/{int(vs.track_ids[11])}/keep")  # the seed
    assert absent.status_code == 404 and absent.json()["reason"] == "not_in_playlist"
    other = await signed_in(client, "stranger")
    assert (await client.put(f"/api/playlists/{pid}/tracks/{track}/keep", headers=other)).status_code == 404
    await client.patch(f"/api/playlists/{pid}", json={"visibility": "public"})
    assert (await client.put(f"/api/playlists/{pid}/tracks/{track}/keep", headers=other)).status_code == 403
    anonymous = {"Authorization": ""}
    assert (await client.put(f"/api/playlists/{pid}/tracks/{track}/keep", headers=anonymous)).status_code == 401
    assert (await client.put(f"/api/playlists/{pid}/tracks/0/keep")).status_code == 422
    # a reorder carries the marks with the tracks
    assert (await client.put(f"/api/playlists/{pid}/tracks/{track}/keep")).status_code == 204
    order = list(reversed(_ids(made)))
    reordered = await client.put(f"/api/playlists/{pid}/tracks", json={"track_ids": order})
    assert reordered.status_code == 200
    assert [t["track_id"] for t in reordered.json()["tracks"] if t["kept"]] == [track]


async def test_fork_copies_the_recipe_and_links_its_source(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    request = {"seed_track_ids": [int(vs.track_ids[40])], "size": 6, "discovery": 0.2, "max_per_artist": None}
    source = await _playlist(client, request)
    sid = source["id"]
    forker = await signed_in(client, "forker")
    # private: absent to everyone else
    private = await client.post(f"/api/playlists/{sid}/fork", headers=forker)
    assert private.status_code == 404 and private.headers["content-type"].startswith(PROBLEM)
    assert (await client.post(f"/api/playlists/{sid}/fork", headers={"Authorization": ""})).status_code == 401
    await client.patch(f"/api/playlists/{sid}", json={"visibility": "public", "title": "the source"})

    resp = await client.post(f"/api/playlists/{sid}/fork", headers=forker)
    assert resp.status_code == 201, resp.text
    fork = resp.json()
    me = (await client.get("/api/users/me", headers=forker)).json()
    assert fork["id"] != sid and fork["owner_id"] == me["id"] and fork["visibility"] == "private"
    assert fork["forked_from"] == sid and fork["recipe"]["forked_from"] == sid
    assert fork["title"] == "the source" and _ids(fork) == _ids(source)
    assert [t["track_id"] for t in fork["seed_tracks"]] == request["seed_track_ids"]
    for option in ("seed_track_ids", "size", "discovery", "max_per_artist", "blend", "flow"):
        assert fork["recipe"][option] == source["recipe"][option], option
    assert (await client.get(f"/api/playlists/{fork['id']}", headers=forker)).json()["forked_from"] == sid

    # the fork refreshes from the same recipe along its own history; the source is untouched
    refreshed = await client.post(f"/api/playlists/{fork['id']}/refresh", headers=forker)
    assert refreshed.status_code == 200, refreshed.text
    assert not set(_ids(refreshed.json())) & set(_ids(source)) and len(_ids(refreshed.json())) == 6
    assert refreshed.json()["recipe"]["forked_from"] == sid and refreshed.json()["forked_from"] == sid
    assert _ids((await client.get(f"/api/playlists/{sid}")).json()) == _ids(source)
    assert (await client.post(f"/api/playlists/{fork['id']}/refresh")).status_code == 404  # not the source's owner

    # a fork of a fork links to the fork it was made from, with a title of its own
    await client.patch(f"/api/playlists/{fork['id']}", json={"visibility": "public"}, headers=forker)
    third = await signed_in(client, "third")
    again = await client.post(f"/api/playlists/{fork['id']}/fork", json={"title": "mine now"}, headers=third)
    assert again.status_code == 201, again.text
    assert again.json()["forked_from"] == fork["id"] and again.json()["title"] == "mine now"
    assert again.json()["recipe"]["seed_track_ids"] == request["seed_track_ids"]
    assert _ids(again.json()) == _ids(refreshed.json())
    bad = await client.post(f"/api/playlists/{fork['id']}/fork", json={"colour": "red"}, headers=third)
    assert bad.status_code == 422

    # the owner may fork their own private playlist; deleting a source leaves its forks, unlinked
    own = await _playlist(client, request)
    copy = await client.post(f"/api/playlists/{own['id']}/fork")
    assert copy.status_code == 201 and copy.json()["forked_from"] == own["id"]
    assert (await client.delete(f"/api/playlists/{own['id']}")).status_code == 204
    orphan = (await client.get(f"/api/playlists/{copy.json()['id']}")).json()
    assert orphan["forked_from"] is None and orphan["recipe"]["forked_from"] == own["id"]
