"""People with similar taste from generated playlists, and the stored taste row that every playlist write keeps
current (on both stacks of conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from api.db.session import session_factory, transaction
from museed.vectorset import VectorSet
from tests.api.conftest import signed_in


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
    from api.playlists.taste import TasteRepository

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
    assert row() is None  # made private: the public taste is untouched (no row written)
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
