"""The discovery engine through the listener API (both stacks of conftest.py): the rules of `discovery/` hold on
real searches, the options validate, and a short playlist explains itself in its recipe."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import numpy as np

from museed.vectorset import VectorSet
from tests.api.conftest import PROBLEM, exact_top


def _vec(vs: VectorSet, track_id: int) -> np.ndarray:
    return np.asarray(vs.vectors[vs.index_of()[track_id]], dtype=np.float64)


async def _tracks(client: httpx.AsyncClient, body: dict[str, Any]) -> list[int]:
    resp = await client.post("/api/playlists", json=body)
    assert resp.status_code == 201, resp.text
    return [t["track_id"] for t in resp.json()["tracks"]]


async def test_excluded_tracks_and_negative_seeds(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    seed = int(vs.track_ids[4])
    base = {"seed_track_ids": [seed], "size": 8, "max_per_artist": None}
    plain = await _tracks(client, base)
    heard = plain[:3]
    fresh = await _tracks(client, {**base, "exclude_track_ids": heard})
    assert not set(heard) & set(fresh) and len(fresh) == 8

    negative = plain[0]  # "less like this" about the closest track
    pushed = await _tracks(client, {**base, "negative_seed_track_ids": [negative], "negative_weight": 1.0})
    assert negative not in pushed

    def mean_sim(ids: list[int]) -> float:
        return float(np.mean([_vec(vs, t) @ _vec(vs, negative) for t in ids if t != negative]))

    assert mean_sim(pushed) < mean_sim(plain)


async def test_fair_share_answers_every_seed_and_names_it(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    first, second = int(vs.track_ids[0]), int(vs.track_ids[40])
    resp = await client.post(
        "/api/playlists",
        json={"seed_track_ids": [first, second], "size": 8, "blend": "fair_share", "max_per_artist": None},
    )
    assert resp.status_code == 201, resp.text
    tracks = resp.json()["tracks"]
    titles = {t["title"] for t in resp.json()["seed_tracks"]}
    named = [next(title for title in titles if f"closest to “{title}”" in t["why"]) for t in tracks]
    # turns alternate, so each seed answers half of the playlist
    assert sorted(named.count(title) for title in titles) == [4, 4]


async def test_threshold_mode_is_short_and_says_why(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    seed = int(vs.track_ids[9])
    tau = float(sorted(_vec(vs, t) @ _vec(vs, seed) for t in exact_top(vs, _vec(vs, seed), {seed})[:3])[0])
    resp = await client.post(
        "/api/playlists",
        json={
            "seed_track_ids": [seed],
            "size": 10,
            "mode": "threshold",
            "threshold": tau - 1e-4,
            "max_per_artist": None,
        },
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert 1 <= len(body["tracks"]) <= 4 and all(t["score"] >= tau - 1e-3 for t in body["tracks"])
    assert body["recipe"]["shortfall"].startswith("asked for 10, found")
    assert "below the similarity threshold" in body["recipe"]["shortfall"]
    full = (await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})).json()
    assert full["recipe"]["shortfall"] is None


async def test_smooth_flow_and_hubness_correction_run_on_the_served_index(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    vs: VectorSet = stack["vectors"]
    seed = int(vs.track_ids[12])
    base = {"seed_track_ids": [seed], "size": 10, "max_per_artist": None, "discovery": 0.3}
    ranked = await _tracks(client, base)
    smooth = await _tracks(client, {**base, "flow": "smooth"})

    def path(ids: list[int]) -> float:
        return sum(1 - float(_vec(vs, a) @ _vec(vs, b)) for a, b in itertools.pairwise(ids))

    assert sorted(smooth) == sorted(ranked) and smooth[0] == ranked[0]
    assert path(smooth) <= path(ranked)
    corrected = await _tracks(client, {**base, "hubness_correction": True})
    assert len(corrected) == 10


async def test_option_errors_are_422(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    vs: VectorSet = stack["vectors"]
    a, b = int(vs.track_ids[1]), int(vs.track_ids[2])
    for body, words in (
        ({"seed_track_ids": [a, b], "seed_weights": [1.0]}, "one per seed"),
        ({"seed_track_ids": [a], "negative_seed_track_ids": [a]}, "seeds and negative seeds"),
        ({"seed_track_ids": [a], "negative_seed_track_ids": [999_999]}, "not in the served index"),
        ({"seed_track_ids": [a], "mode": "threshold"}, "needs a threshold"),
        ({"seed_track_ids": [a], "seed_weights": [0.0]}, "greater than 0"),
    ):
        resp = await client.post("/api/playlists", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"] == PROBLEM and words in resp.text, resp.text
