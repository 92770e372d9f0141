"""The `commercial_use` filter of `/v1` recommendations (FMA licence strings) and the weights licence in
`/v1/meta`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from api.b2b.licences import allows_commercial_use
from tests.api.test_b2b import B2B, _settings, auth, running, seeds


@pytest.fixture
async def b2b(stack: dict[str, Any]) -> AsyncIterator[B2B]:
    """One app instance with the in-memory limiter."""
    async with running(stack, _settings(stack, None), 1) as b:
        yield b


@pytest.mark.parametrize(
    ("licence", "allowed"),
    [
        ("Attribution 3.0 International", True),
        ("Attribution-ShareAlike 4.0 International", True),
        ("Attribution-NoDerivatives 4.0 International", True),
        ("Creative Commons Attribution 4.0", True),
        ("CC BY-SA 3.0", True),
        ("Creative Commons Zero 1.0 Universal", True),
        ("Public Domain Mark 1.0", True),
        ("Attribution-NonCommercial-ShareAlike 3.0 International", False),
        ("Attribution-Noncommercial-No Derivative Works 3.0 United States", False),
        ("Attribution-NonCommercial-NoDerivatives (aka Music Sharing) 3.0 International", False),
        ("Creative Commons Attribution-NonCommercial 4.0", False),
        ("CC BY-NC 4.0", False),
        ("Sampling+ 1.0", False),
        ("FMA-Limited: Download Only", False),
        ("", False),
        (None, False),
    ],
)
def test_the_licence_rule(licence: str | None, allowed: bool) -> None:
    assert allows_commercial_use(licence) is allowed


async def test_commercial_use_keeps_the_ranking_of_the_usable_tracks(b2b: B2B) -> None:
    stack, c = b2b.stack, b2b.clients[0]
    key = b2b.key(plan="pro")
    query = {"seed_track_ids": seeds(stack, 2), "max_per_artist": None}
    everything = await c.post("/v1/recommendations", json={**query, "count": 100}, headers=auth(key))
    usable = [t["track_id"] for t in everything.json()["results"] if allows_commercial_use(t["license"])]
    assert 5 <= len(usable) < everything.json()["count"]  # the corpus mixes NC and commercial licences
    r = await c.post("/v1/recommendations", json={**query, "count": 5, "commercial_use": True}, headers=auth(key))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [t["track_id"] for t in results] == usable[:5]
    assert all(allows_commercial_use(t["license"]) for t in results)
    # the filter composes with the others and with batch
    batch = await c.post(
        "/v1/recommendations/batch",
        json={"queries": [{**query, "count": 3, "commercial_use": True}, {**query, "count": 3}]},
        headers=auth(key),
    )
    first, second = batch.json()["queries"]
    assert [t["track_id"] for t in first["results"]] == usable[:3]
    assert len(second["results"]) == 3


async def test_meta_states_the_served_encoders_weights_licence(b2b: B2B) -> None:
    c = b2b.clients[0]
    meta = (await c.get("/v1/meta", headers=auth(b2b.key()))).json()
    encoder = b2b.stack["encoder"]
    assert meta["encoder_id"] == encoder.encoder_id
    assert meta["weights_licence"] == encoder.weights_licence and meta["weights_licence"]
