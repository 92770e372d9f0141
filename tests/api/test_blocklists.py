"""Blocklists over HTTP (both stacks of conftest.py): a listener's blocked artists and tracks never enter their
playlists (new or refreshed) and are counted in the recipe's `dropped`; an organisation's apply to its `/v1`
answers only; unknown ids are 404 problems; nobody reads or edits another's list."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from api.b2b.service import b2b_service_for
from api.db.session import session_factory, transaction
from museed.vectorset import VectorSet
from tests.api.conftest import PROBLEM, signed_in

ME = "/api/users/me"
#: no track or artist of the small corpus has an id this large
UNKNOWN_ID = 2_000_000_000


async def _playlist(client: httpx.AsyncClient, body: dict[str, Any], headers: Any = None) -> dict[str, Any]:
    resp = await client.post("/api/playlists", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    made: dict[str, Any] = resp.json()
    return made


def _ids(playlist: dict[str, Any]) -> list[int]:
    return [t["track_id"] for t in playlist["tracks"]]


def _victims(playlist: dict[str, Any]) -> tuple[int, int, int]:
    """An artist with tracks in `playlist` (not a seed's), how many of its tracks it holds, and a track by
    someone else."""
    seed_artists = {t["artist_id"] for t in playlist["seed_tracks"]}
    counts: dict[int, int] = {}
    for t in playlist["tracks"]:
        if t["artist_id"] not in seed_artists:
            counts[t["artist_id"]] = counts.get(t["artist_id"], 0) + 1
    artist = max(counts, key=lambda a: counts[a])
    track = next(t["track_id"] for t in playlist["tracks"] if t["artist_id"] != artist)
    return artist, counts[artist], track


async def test_blocked_artist_and_track_never_appear_and_are_counted(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    vs: VectorSet = stack["vectors"]
    body = {"seed_track_ids": [int(vs.track_ids[5])], "size": 8, "max_per_artist": None}
    before = await _playlist(client, body)
    assert before["recipe"]["dropped"]["blocked_artist"] == before["recipe"]["dropped"]["blocked_track"] == 0
    artist, by_artist, track = _victims(before)

    assert (await client.put(f"{ME}/blocklist/artists/{artist}")).status_code == 204
    assert (await client.put(f"{ME}/blocklist/artists/{artist}")).status_code == 204  # idempotent
    assert (await client.put(f"{ME}/blocklist/tracks/{track}")).status_code == 204
    listed = (await client.get(f"{ME}/blocklist")).json()
    assert [a["artist_id"] for a in listed["artists"]] == [artist]
    assert [t["track_id"] for t in listed["tracks"]] == [track]
    one = await client.get(f"{ME}/blocklist/tracks/{track}")
    assert one.status_code == 200 and one.json()["track_id"] == track and one.json()["blocked_at"]

    after = await _playlist(client, body)
    assert len(after["tracks"]) == 8, after["recipe"]["shortfall"]
    assert track not in _ids(after)
    assert artist not in {t["artist_id"] for t in after["tracks"]}
    dropped = after["recipe"]["dropped"]
    # every blocked candidate that would have made the playlist was seen by the policy and counted
    assert dropped["blocked_track"] == 1
    assert dropped["blocked_artist"] >= by_artist

    # a refresh of the playlist made before the blocks follows them too
    refreshed = await client.post(f"/api/playlists/{before['id']}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert track not in _ids(refreshed.json())
    assert artist not in {t["artist_id"] for t in refreshed.json()["tracks"]}

    # unblocked: the same request makes the same playlist as before the blocks
    assert (await client.delete(f"{ME}/blocklist/artists/{artist}")).status_code == 204
    assert (await client.delete(f"{ME}/blocklist/tracks/{track}")).status_code == 204
    assert (await client.delete(f"{ME}/blocklist/tracks/{track}")).status_code == 204  # idempotent
    assert (await client.get(f"{ME}/blocklist")).json() == {"artists": [], "tracks": []}
    assert _ids(await _playlist(client, body)) == _ids(before)


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    known = int(vs.track_ids[0])
    for kind in ("artists", "tracks"):
        for method in ("PUT", "DELETE", "GET"):
            resp = await client.request(method, f"{ME}/blocklist/{kind}/{UNKNOWN_ID}")
            assert resp.status_code == 404, (kind, method, resp.text)
            assert resp.headers["content-type"].startswith(PROBLEM)
            assert resp.json()["reason"] == f"unknown_{kind[:-1]}"
        for bad in ("0", "-3", "abc", str(2**31)):
            resp = await client.put(f"{ME}/blocklist/{kind}/{bad}")
            assert resp.status_code == 422, (kind, bad, resp.text)
            assert resp.headers["content-type"].startswith(PROBLEM)
    not_blocked = await client.get(f"{ME}/blocklist/tracks/{known}")
    assert not_blocked.status_code == 404 and not_blocked.json()["reason"] == "not_blocked"
    anonymous = {"Authorization": ""}
    assert (await client.get(f"{ME}/blocklist", headers=anonymous)).status_code == 401
    assert (await client.put(f"{ME}/blocklist/tracks/{known}", headers=anonymous)).status_code == 401


async def test_a_blocklist_is_its_owners_alone(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    body = {"seed_track_ids": [int(vs.track_ids[12])], "size": 6, "max_per_artist": None}
    mine = await _playlist(client, body)
    blocked = _ids(mine)[0]
    assert (await client.put(f"{ME}/blocklist/tracks/{blocked}")).status_code == 204
    other = await signed_in(client, "neighbour")
    # the other listener sees their own (empty) list, and their playlists are untouched by mine
    assert (await client.get(f"{ME}/blocklist", headers=other)).json() == {"artists": [], "tracks": []}
    assert (await client.get(f"{ME}/blocklist/tracks/{blocked}", headers=other)).status_code == 404
    theirs = await _playlist(client, body, headers=other)
    assert _ids(theirs) == _ids(mine) and theirs["recipe"]["dropped"]["blocked_track"] == 0
    # their unblock edits their list only
    assert (await client.delete(f"{ME}/blocklist/tracks/{blocked}", headers=other)).status_code == 204
    assert [t["track_id"] for t in (await client.get(f"{ME}/blocklist")).json()["tracks"]] == [blocked]


def _org_with(url: str, members: dict[str, str]) -> tuple[str, str]:
    """A new organisation with these members (email -> role) and a pro key of its own."""
    with transaction(session_factory(url)) as s:
        svc = b2b_service_for(s)
        org = svc.create_org(f"org-{uuid.uuid4().hex[:8]}")
        for email, role in members.items():
            svc.add_member(org.id, email, role)
        return org.id, svc.create_key(org.id, "pro", ["recommend"], "test").key


async def test_org_blocklist_applies_to_that_orgs_v1_answers_only(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    vs: VectorSet = stack["vectors"]
    url = stack["settings"].sqlalchemy_url
    admin, member, outsider = client.headers, await signed_in(client, "member"), await signed_in(client, "outsider")
    emails = {}
    for name, headers in (("admin", admin), ("member", member)):
        emails[name] = (await client.get("/api/users/me", headers=headers)).json()["email"]
    org_id, key = _org_with(url, {emails["admin"]: "admin", emails["member"]: "member"})
    other_org, other_key = _org_with(url, {})
    seed = int(vs.track_ids[20])
    query = {"seed_track_ids": [seed], "count": 10, "max_per_artist": None}

    async def v1(key_: str) -> dict[str, Any]:
        resp = await client.post("/v1/recommendations", json=query, headers={"Authorization": f"Bearer {key_}"})
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = resp.json()
        return answer

    before = await v1(key)
    results = before["results"]
    track = results[0]["track_id"]
    artist = next(r["artist_id"] for r in results[1:] if r["artist_id"] != results[0]["artist_id"])

    base = f"/v1/orgs/{org_id}/blocklist"
    # members read, admins edit, outsiders do not learn the organisation exists
    assert (await client.put(f"{base}/tracks/{track}", headers=member)).status_code == 403
    assert (await client.put(f"{base}/tracks/{track}", headers=outsider)).status_code == 404
    assert (await client.get(base, headers=outsider)).status_code == 404
    assert (await client.put(f"{base}/tracks/{track}", headers=admin)).status_code == 204
    assert (await client.put(f"{base}/artists/{artist}", headers=admin)).status_code == 204
    assert (await client.put(f"{base}/tracks/{UNKNOWN_ID}", headers=admin)).status_code == 404
    read = (await client.get(base, headers=member)).json()
    assert [t["track_id"] for t in read["tracks"]] == [track]
    assert [a["artist_id"] for a in read["artists"]] == [artist]
    assert (await client.get(f"{base}/artists/{artist}", headers=member)).status_code == 200
    assert (await client.get(f"/v1/orgs/{other_org}/blocklist", headers=admin)).status_code == 404

    after = await v1(key)
    assert after["count"] == 10
    assert before["dropped"]["blocked_track"] == before["dropped"]["blocked_artist"] == 0
    assert after["dropped"]["blocked_track"] == 1 and after["dropped"]["blocked_artist"] >= 1  # /v1 explains it
    assert track not in {r["track_id"] for r in after["results"]}
    assert artist not in {r["artist_id"] for r in after["results"]}
    # one track's similar tracks and batches go through the same list
    similar = await client.get(f"/v1/tracks/{seed}/similar?count=10", headers={"Authorization": f"Bearer {key}"})
    assert similar.status_code == 200 and track not in {r["track_id"] for r in similar.json()["results"]}
    batch = await client.post(
        "/v1/recommendations/batch", json={"queries": [query]}, headers={"Authorization": f"Bearer {key}"}
    )
    assert batch.status_code == 200 and track not in {r["track_id"] for r in batch.json()["queries"][0]["results"]}

    # another organisation's answers, and the admin's own listener playlists, are untouched
    assert (await v1(other_key))["results"] == before["results"]
    listener = await _playlist(client, {"seed_track_ids": [seed], "size": 10, "max_per_artist": None}, headers=admin)
    assert _ids(listener) == [r["track_id"] for r in before["results"]]

    assert (await client.delete(f"{base}/artists/{artist}", headers=member)).status_code == 403
    assert (await client.delete(f"{base}/artists/{artist}", headers=admin)).status_code == 204
    assert (await client.delete(f"{base}/tracks/{track}", headers=admin)).status_code == 204
    assert (await v1(key))["results"] == before["results"]
