"""A sonic path from one track to another in N steps, for listeners (`/api/tracks/{a}/path/{b}`) and API keys
(`/v1/tracks/{a}/path/{b}`): both ends included, the same tracks `discovery.flow.sonic_path` picks over the whole
library, drifting from the start towards the end, metered and capped by the plan on `/v1`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest

from discovery.flow import sonic_path
from tests.api.conftest import PROBLEM
from tests.api.test_b2b import B2B, _settings, auth, running, seeds


@pytest.fixture
async def b2b(stack: dict[str, Any]) -> AsyncIterator[B2B]:
    """One app instance, limits in process memory."""
    async with running(stack, _settings(stack, None), 1) as b:
        yield b


def _library_path(stack: dict[str, Any], start: int, end: int, steps: int) -> list[int]:
    """The path `sonic_path` picks over every served vector (the ground truth for the index-backed one)."""
    vs = stack["vectors"]
    ids = [int(t) for t in vs.track_ids]
    order = sonic_path(np.asarray(vs.vectors), ids.index(start), ids.index(end), steps)
    return [ids[i] for i in order]


async def test_the_path_joins_both_ends_through_the_library_path(
    client: httpx.AsyncClient, stack: dict[str, Any]
) -> None:
    start, end = seeds(stack, 0, 40)
    resp = await client.get(f"/api/tracks/{start}/path/{end}", params={"steps": 8})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    ids = [t["track_id"] for t in body["tracks"]]
    assert body["steps"] == 8 and len(ids) == 8 and len(set(ids)) == 8
    assert ids[0] == start and ids[-1] == end
    assert ids == _library_path(stack, start, end, 8)
    assert body["index_version"] == stack["index"].served_identity()["collection"]
    assert body["candidates"] >= 8
    tracks = body["tracks"]
    assert tracks[0]["similarity_to_start"] == pytest.approx(1.0, abs=1e-4)
    assert tracks[-1]["similarity_to_end"] == pytest.approx(1.0, abs=1e-4)
    assert tracks[0]["similarity_to_previous"] is None
    assert all(t["similarity_to_previous"] is not None for t in tracks[1:])
    # along the way the path leaves the start and nears the end
    to_start = [t["similarity_to_start"] for t in tracks]
    to_end = [t["similarity_to_end"] for t in tracks]
    assert np.mean(to_start[:4]) > np.mean(to_start[4:])
    assert np.mean(to_end[4:]) > np.mean(to_end[:4])


async def test_two_steps_is_just_the_ends(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    start, end = seeds(stack, 3, 9)
    body = (await client.get(f"/api/tracks/{start}/path/{end}", params={"steps": 2})).json()
    assert [t["track_id"] for t in body["tracks"]] == [start, end]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/tracks/{a}/path/{a}", 422),  # the same track twice
        ("/api/tracks/{a}/path/999999999", 404),  # unknown track
        ("/api/tracks/999999999/path/{a}", 404),
        ("/api/tracks/{a}/path/{b}?steps=1", 422),
        ("/api/tracks/{a}/path/{b}?steps=51", 422),
        ("/api/tracks/{a}/path/{b}?steps=ten", 422),
        ("/api/tracks/{a}/path/99999999999999999999", 422),  # beyond the id column: a 422, no overflow
    ],
)
async def test_bad_paths_are_problems(client: httpx.AsyncClient, stack: dict[str, Any], path: str, status: int) -> None:
    a, b = seeds(stack, 1, 2)
    resp = await client.get(path.format(a=a, b=b))
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM


async def test_v1_path_is_the_listener_path_metered_and_capped(b2b: B2B, stack: dict[str, Any]) -> None:
    (c,) = b2b.clients
    key = b2b.key()
    start, end = seeds(stack, 5, 50)
    listener = await c.get(f"/api/tracks/{start}/path/{end}", params={"steps": 12})
    keyed = await c.get(f"/v1/tracks/{start}/path/{end}", params={"steps": 12}, headers=auth(key))
    assert keyed.status_code == 200, keyed.text
    assert [t["track_id"] for t in keyed.json()["tracks"]] == [t["track_id"] for t in listener.json()["tracks"]]
    assert keyed.json()["capped_by_plan"] is False and "RateLimit" in keyed.headers
    # the free plan returns at most 20 results: a longer path is capped, and says so
    capped = (await c.get(f"/v1/tracks/{start}/path/{end}", params={"steps": 30}, headers=auth(key))).json()
    assert capped["steps"] == 20 and capped["capped_by_plan"] is True
    assert capped["tracks"][-1]["track_id"] == end
    refused = await c.get(f"/v1/tracks/{start}/path/{start}", headers=auth(key))
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert (await c.get(f"/v1/tracks/{start}/path/{end}")).status_code == 401
    usage = (await c.get("/v1/usage", headers=auth(key))).json()
    counted = {r["endpoint"]: r["count"] for r in usage["rows"]}
    assert counted.get("tracks.path") == 2  # the refused call gave its query back
