"""`GET /v1/trends` and its chart on SQLite and PostgreSQL: genre and mood shares per ISO week of the playlists
created and liked, the movers, the top seed tracks (counted in SQL), and a real listener playlist showing up."""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api.b2b.repository import B2BRepository
from api.b2b.trends import TrendService, iso_week, week_range
from api.db.models import Playlist, PlaylistLike, User
from api.db.session import session_factory, transaction
from tests.api.conftest import PROBLEM, signed_in
from tests.api.test_b2b import B2B, _settings, auth, running, seeds

# weeks far from "now", so the playlists other tests of the package create never fall into them
W1 = date(2021, 3, 1)  # Monday of 2021-W09
W2 = W1 + timedelta(weeks=1)
W3 = W1 + timedelta(weeks=2)
W_PRIVACY = date(2021, 6, 7)  # Monday of 2021-W23, the minimum-listeners test's own week


@pytest.fixture
async def b2b(stack: dict[str, Any]) -> AsyncIterator[B2B]:
    """One app instance with the in-memory limiter (trends need no Redis), listing every cell: the counting is
    tested with one listener; the minimum of listeners per cell has its own test with the default setting."""
    settings = _settings(stack, None).model_copy(update={"trend_min_listeners": 1})
    async with running(stack, settings, 1) as b:
        yield b


def _at(monday: date, day: int = 0, hour: int = 12) -> datetime:
    return datetime(monday.year, monday.month, monday.day, hour, tzinfo=UTC) + timedelta(days=day)


def _playlist(owner: str, when: datetime, seeds: list[int], profile: dict[str, str], **options: str) -> Playlist:
    recipe: dict[str, Any] = {"seed_track_ids": seeds, "genre": None, "mood_style": None, **options}
    return Playlist(
        title="t", owner_id=owner, created_at=when, seed_track_ids=seeds, recipe={**recipe, "seed_profile": profile}
    )


def _history(url: str, tracks: list[int]) -> None:
    """W1: 4 playlists (3 Rock/driving, 1 Folk with no shared mood); W2: 2 Folk/dreamy (one by its filters), and
    3 likes of a Rock playlist; W3: nothing. Seed uses: tracks[0] x3, tracks[1] x2, tracks[2] x1."""
    a, b, c = tracks
    with transaction(session_factory(url)) as s:
        users = [User(email=f"t-{uuid.uuid4().hex}@example.org", password_hash="x", display_name="t") for _ in range(3)]
        s.add_all(users)
        s.flush()
        u = users[0].id
        rock = {"genre_top": "Rock", "mood_style": "driving"}
        made = [
            _playlist(u, _at(W1, 0, 0), [a], rock),  # Monday 00:00 UTC: still W1
            _playlist(u, _at(W1, 2), [a, b], rock),
            _playlist(u, _at(W1, 6, 23), [b], rock),  # Sunday 23:00 UTC: still W1
            _playlist(u, _at(W1, 3), [c], {"genre_top": "Folk"}),
            _playlist(u, _at(W2, 1), [a], {"genre_top": "Folk", "mood_style": "dreamy"}),
            # the filters win over what the seeds share
            _playlist(
                u, _at(W2, 4), [], {"genre_top": "Rock", "mood_style": "somber"}, genre="Folk", mood_style="dreamy"
            ),
            _playlist(u, _at(W1 - timedelta(days=1), 0, 23), [a, b, c], rock),  # Sunday before W1: outside
        ]
        s.add_all(made)
        s.flush()
        s.add_all(PlaylistLike(user_id=user.id, playlist_id=made[1].id, created_at=_at(W2, 2)) for user in users)


async def test_weekly_shares_movers_and_seeds_are_counted_in_sql(b2b: B2B) -> None:
    stack, c = b2b.stack, b2b.clients[0]
    tracks = seeds(stack, 11, 12, 13)
    _history(b2b.url, tracks)
    key = b2b.key(scopes=("trends",))
    r = await c.get(f"/v1/trends?weeks=2&until={W2 + timedelta(days=6)}&top=5", headers=auth(key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["since"], body["until"], body["weeks"]) == (str(W1), str(W2 + timedelta(days=6)), 2)
    w1, w2 = body["created"]
    assert (w1["week"], w1["starts"], w1["total"], w2["week"], w2["total"]) == ("2021-W09", str(W1), 4, "2021-W10", 2)
    assert w1["genre"] == [{"value": "Rock", "count": 3, "share": 0.75}, {"value": "Folk", "count": 1, "share": 0.25}]
    assert w1["mood"] == [{"value": "driving", "count": 3, "share": 0.75}, {"value": None, "count": 1, "share": 0.25}]
    assert w2["genre"] == [{"value": "Folk", "count": 2, "share": 1.0}]
    assert w2["mood"] == [{"value": "dreamy", "count": 2, "share": 1.0}]
    # likes fall in the week they were given, with the liked playlist's labels
    l1, l2 = body["liked"]
    assert l1["total"] == 0 and l1["genre"] == [] and l2["total"] == 3
    assert l2["genre"] == [{"value": "Rock", "count": 3, "share": 1.0}]

    created = body["movers"]["created"]
    assert (created["from_week"], created["to_week"]) == ("2021-W09", "2021-W10")
    assert [(m["axis"], m["value"], m["change"]) for m in created["rising"]] == [
        ("mood", "dreamy", 1.0),
        ("genre", "Folk", 0.75),
    ]
    assert [(m["axis"], m["value"], m["change"]) for m in created["falling"]] == [
        ("genre", "Rock", -0.75),
        ("mood", "driving", -0.75),
    ]
    assert [(m["value"], m["share_before"], m["share_now"]) for m in body["movers"]["liked"]["rising"]] == [
        ("Rock", 0.0, 1.0),
        ("driving", 0.0, 1.0),
    ]
    top = body["top_seed_tracks"]
    assert [(t["track_id"], t["playlists"]) for t in top] == [(tracks[0], 3), (tracks[1], 2), (tracks[2], 1)]
    assert all(t["title"] and t["artist"] for t in top)

    # a week with nothing: every week of the range is listed, empty ones with zero totals
    r = await c.get(f"/v1/trends?weeks=3&until={W3}&top=1", headers=auth(key))
    body = r.json()
    assert [w["total"] for w in body["created"]] == [4, 2, 0] and len(body["top_seed_tracks"]) == 1
    assert [m["value"] for m in body["movers"]["created"]["falling"]] == ["Folk"]  # top=1: one per direction
    assert body["movers"]["created"]["rising"] == []


async def test_chart_is_svg_or_png_and_the_range_is_bounded(b2b: B2B) -> None:
    c = b2b.clients[0]
    key = b2b.key(scopes=("trends",))
    svg = await c.get(f"/v1/trends/chart?weeks=4&until={W3}&axis=mood", headers=auth(key))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)
    assert root.tag.endswith("svg") and b"mood of playlists created" in svg.content
    png = await c.get(f"/v1/trends/chart?weeks=4&until={W3}&format=png", headers=auth(key))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    assert Image.open(io.BytesIO(png.content)).size == (1000, 420)

    for bad in ("weeks=53", "weeks=1", "top=0", "until=2021-02-30", "axis=tempo", "format=gif"):
        path = "/v1/trends/chart" if bad.startswith(("axis", "format")) else "/v1/trends"
        r = await c.get(f"{path}?{bad}", headers=auth(key))
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, bad
    no_scope = b2b.key(scopes=("recommend",))
    r = await c.get("/v1/trends", headers=auth(no_scope))
    assert r.status_code == 403 and r.json()["scope"] == "trends"
    usage = (await c.get("/v1/usage", headers=auth(key))).json()
    assert {row["endpoint"]: row["count"] for row in usage["rows"]} == {"trends.chart": 2}


async def test_a_listener_playlist_shows_up_in_this_weeks_report(b2b: B2B) -> None:
    stack, c = b2b.stack, b2b.clients[0]
    key = b2b.key(scopes=("trends",))
    listener = await signed_in(c, "trendsetter")

    async def this_week() -> dict[str, Any]:
        body: dict[str, Any] = (await c.get("/v1/trends?weeks=2", headers=auth(key))).json()
        return body["created"][-1]

    before = await this_week()
    assert before["week"] == iso_week(week_range(datetime.now(UTC).date(), 1)[0])
    seed = seeds(stack, 4)
    made = await c.post("/api/playlists", json={"seed_track_ids": seed, "size": 5}, headers=listener)
    assert made.status_code == 201, made.text
    with transaction(session_factory(b2b.url)) as s:
        profile = s.scalars(select(Playlist.recipe).where(Playlist.id == made.json()["id"])).one()["seed_profile"]
    after = await this_week()
    assert after["total"] == before["total"] + 1

    def count(week: dict[str, Any], axis: str, value: str | None) -> int:
        return next((x["count"] for x in week[axis] if x["value"] == value), 0)

    genre = profile.get("genre_top")
    assert count(after, "genre", genre) == count(before, "genre", genre) + 1
    mood = profile.get("mood_style")
    assert count(after, "mood", mood) == count(before, "mood", mood) + 1


async def test_a_cell_of_fewer_than_five_listeners_is_not_listed(stack: dict[str, Any]) -> None:
    """One listener's three private playlists (seed `lone`, Folk/somber) and the like they gave one of them stay out
    of the report; five listeners' private playlists (seed `shared`, Rock/driving) and their five likes are listed.
    The weeks' totals count everything."""
    lone, shared = seeds(stack, 14, 15)
    async with running(stack, _settings(stack, None), 1) as b2b:
        assert b2b.settings.trend_min_listeners == 5  # the default
        with transaction(session_factory(b2b.url)) as s:
            users = [
                User(email=f"p-{uuid.uuid4().hex}@example.org", password_hash="x", display_name="p") for _ in range(6)
            ]
            s.add_all(users)
            s.flush()
            solo, crowd = users[0], users[1:]
            folk = {"genre_top": "Folk", "mood_style": "somber"}
            alone = [_playlist(solo.id, _at(W_PRIVACY, day), [lone], folk) for day in range(3)]
            rock = {"genre_top": "Rock", "mood_style": "driving"}
            together = [_playlist(u.id, _at(W_PRIVACY, i % 7), [shared], rock) for i, u in enumerate(crowd)]
            s.add_all([*alone, *together])
            s.flush()
            s.add(PlaylistLike(user_id=solo.id, playlist_id=alone[0].id, created_at=_at(W_PRIVACY, 4)))
            s.add_all(
                PlaylistLike(user_id=u.id, playlist_id=together[0].id, created_at=_at(W_PRIVACY, 5)) for u in crowd
            )
        key = b2b.key(scopes=("trends",))
        r = await b2b.clients[0].get(f"/v1/trends?weeks=2&until={W_PRIVACY}&top=50", headers=auth(key))
        assert r.status_code == 200, r.text
        body = r.json()
    week = body["created"][-1]
    assert (week["week"], week["total"]) == ("2021-W23", 8)
    assert week["genre"] == [{"value": "Rock", "count": 5, "share": 0.625}]
    assert week["mood"] == [{"value": "driving", "count": 5, "share": 0.625}]
    liked = body["liked"][-1]
    assert liked["total"] == 6 and liked["genre"] == [{"value": "Rock", "count": 5, "share": 0.8333}]
    assert [(t["track_id"], t["playlists"]) for t in body["top_seed_tracks"]] == [(shared, 5)]
    movers = [m["value"] for source in body["movers"].values() for d in ("rising", "falling") for m in source[d]]
    assert "Folk" not in movers and "somber" not in movers and "Rock" in movers
    # what was withheld is there to be found: listed at a minimum of one listener
    with transaction(session_factory(b2b.url)) as s:
        report = TrendService(B2BRepository(s), lambda: datetime.now(UTC), 1).report(W_PRIVACY, 2, 50)
    assert {t.track_id: t.playlists for t in report.top_seed_tracks} == {shared: 5, lone: 3}
    assert [(x.value, x.count) for x in report.created[-1].genre] == [("Rock", 5), ("Folk", 3)]
    assert [(x.value, x.count) for x in report.liked[-1].genre] == [("Rock", 5), ("Folk", 1)]
