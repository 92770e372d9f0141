"""Deleting an account removes the person's data everywhere (rows, files, counts), and nothing on a wrong password
(on both stacks of conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.db.models import (
    Follow,
    Organisation,
    OrgMember,
    Playlist,
    PlaylistLike,
    PlaylistSave,
    RefreshToken,
    Upload,
    User,
    UserBadge,
    UserTaste,
)
from api.db.session import session_factory, transaction
from tests.api.conftest import PROBLEM, signed_in


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return str((await client.get("/api/users/me", headers=headers)).json()["id"])


async def test_account_deletion_removes_everything_that_was_theirs(
    client: httpx.AsyncClient, stack: dict[str, Any], tmp_path: Path
) -> None:
    import soundfile as sf

    ada = dict(client.headers)  # the fixture's fresh user
    bob = await signed_in(client, "bob")
    ada_id, bob_id = await _me(client, ada), await _me(client, bob)
    seed = int(stack["catalog"].with_audio().index[3])
    audio, sr = sf.read(stack["catalog"].tracks.loc[seed, "audio_path"], dtype="float32")
    wav = tmp_path / "demo.wav"
    sf.write(wav, audio, sr)
    up = await client.post("/api/uploads", files={"file": ("demo.wav", wav.read_bytes(), "audio/wav")})
    assert up.status_code == 201, up.text

    ada_pl = (await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})).json()
    bob_pl = (await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5}, headers=bob)).json()
    for pid, owner in ((ada_pl["id"], ada), (bob_pl["id"], bob)):
        assert (await client.patch(f"/api/playlists/{pid}", json={"visibility": "public"}, headers=owner)).is_success
    assert (await client.put(f"/api/playlists/{bob_pl['id']}/like", headers=ada)).status_code == 204
    assert (await client.put(f"/api/playlists/{bob_pl['id']}/save", headers=ada)).status_code == 204
    assert (await client.put(f"/api/playlists/{ada_pl['id']}/like", headers=bob)).status_code == 204
    assert (await client.put(f"/api/users/{bob_id}/follow", headers=ada)).status_code == 204
    assert (await client.put(f"/api/users/{ada_id}/follow", headers=bob)).status_code == 204
    factory = session_factory(stack["settings"].database_url)
    with transaction(factory) as s:
        org = Organisation(name=f"org-{ada_id}")
        s.add(org)
        s.flush()
        s.add(OrgMember(org_id=org.id, user_id=ada_id, role="admin"))
        stored = Path(s.scalars(select(Upload.stored_path).where(Upload.owner_id == ada_id)).one())
    assert stored.is_file()

    mine = {p["id"]: p for p in (await client.get("/api/playlists", headers=bob)).json()}
    assert mine[bob_pl["id"]]["likes"] == 1

    # a wrong password refuses and loses nothing; the body is required
    wrong = await client.request("DELETE", "/api/users/me", json={"password": "not my password"}, headers=ada)
    assert wrong.status_code == 401 and wrong.headers["content-type"] == PROBLEM
    assert (await client.request("DELETE", "/api/users/me", headers=ada)).status_code == 422
    assert stored.is_file() and (await client.get("/api/users/me", headers=ada)).status_code == 200

    gone = await client.request("DELETE", "/api/users/me", json={"password": "a long enough password"}, headers=ada)
    assert gone.status_code == 204, gone.text
    assert not stored.exists()
    assert (await client.get("/api/users/me", headers=ada)).status_code == 401
    assert (await client.get(f"/api/users/{ada_id}", headers=bob)).status_code == 404
    assert (await client.get(f"/api/playlists/{ada_pl['id']}", headers=bob)).status_code == 404
    assert (await client.get(f"/api/users/{bob_id}/followers", headers=bob)).json() == []
    mine = {p["id"]: p for p in (await client.get("/api/playlists", headers=bob)).json()}
    assert mine[bob_pl["id"]]["likes"] == 0  # ada's like came off the count
    with transaction(factory) as s:
        assert s.get(User, ada_id) is None and s.get(Organisation, org.id) is not None
        for model, column in (
            (Playlist, Playlist.owner_id),
            (PlaylistLike, PlaylistLike.user_id),
            (PlaylistSave, PlaylistSave.user_id),
            (Follow, Follow.follower_id),
            (Follow, Follow.followee_id),
            (UserBadge, UserBadge.user_id),
            (UserTaste, UserTaste.user_id),
            (Upload, Upload.owner_id),
            (RefreshToken, RefreshToken.user_id),
            (OrgMember, OrgMember.user_id),
        ):
            left = s.scalar(select(func.count()).select_from(model).where(column == ada_id))
            assert left == 0, f"{model.__tablename__} still holds rows of the deleted account"
        # bob's own data is untouched
        assert s.scalar(select(func.count()).select_from(Follow).where(Follow.follower_id == bob_id)) == 0
        assert s.get(Playlist, bob_pl["id"]) is not None


async def test_playlist_creation_is_atomic(
    client: httpx.AsyncClient, stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the playlist and its tracks were written (the badge step, the last one) leaves no playlist,
    no track rows and no taste change: the request's one transaction rolls all of it back."""
    from sqlalchemy.exc import OperationalError

    from api.badges.service import BadgeService
    from api.db.models import PlaylistTrack

    me = await _me(client, dict(client.headers))
    seed = int(stack["catalog"].with_audio().index[1])
    factory = session_factory(stack["settings"].database_url)

    def counts() -> tuple[int, int, int]:
        with transaction(factory) as s:
            mine = select(Playlist.id).where(Playlist.owner_id == me)
            return (
                int(s.scalar(select(func.count()).select_from(Playlist).where(Playlist.owner_id == me)) or 0),
                int(
                    s.scalar(select(func.count()).select_from(PlaylistTrack).where(PlaylistTrack.playlist_id.in_(mine)))
                    or 0
                ),
                int(s.scalar(select(func.count()).select_from(UserTaste).where(UserTaste.user_id == me)) or 0),
            )

    def lost_connection(self: BadgeService, user_id: str) -> list[str]:
        raise OperationalError("INSERT INTO user_badges", {}, Exception("server closed the connection unexpectedly"))

    before = counts()
    monkeypatch.setattr(BadgeService, "evaluate", lost_connection)
    failed = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})
    assert failed.status_code == 503 and "Retry-After" in failed.headers
    assert counts() == before == (0, 0, 0)
    monkeypatch.undo()
    made = await client.post("/api/playlists", json={"seed_track_ids": [seed], "size": 5})
    assert made.status_code == 201
    assert counts()[:2] == (1, 5)
