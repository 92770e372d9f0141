"""Accounts over HTTP on SQLite and PostgreSQL: sign-up, login throttle, token rotation and reuse, profiles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from api.app import create_app
from museed.settings import Settings

PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery"


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=db_url,
        milvus_uri=str(tmp_path / "m.db"),
        serve_uploads=False,
        secret_key="test-secret-not-the-placeholder-0123456789",  # type: ignore[arg-type]
        login_rate_limit="3/minute",
    )
    app = create_app(settings=settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            yield c


async def signup(client: httpx.AsyncClient, email: str = "ada@example.org", name: str = "Ada") -> dict:
    resp = await client.post("/api/auth/signup", json={"email": email, "password": PASSWORD, "display_name": name})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def login(client: httpx.AsyncClient, email: str = "ada@example.org") -> dict:
    resp = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_signup_login_me_and_profile(client: httpx.AsyncClient) -> None:
    user = await signup(client, email="Ada@Example.org")
    assert user["email"] == "ada@example.org" and "password" not in str(user)
    tokens = await login(client, email="ADA@example.org")
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 15 * 60
    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    upd = await client.patch(
        "/api/users/me", headers=bearer(tokens), json={"bio": "Loves drones", "display_name": "A."}
    )
    assert upd.status_code == 200 and upd.json()["bio"] == "Loves drones" and upd.json()["display_name"] == "A."
    public = await client.get(f"/api/users/{user['id']}")
    assert public.status_code == 200 and "email" not in public.json() and public.json()["display_name"] == "A."


async def test_signup_refusals(client: httpx.AsyncClient) -> None:
    await signup(client)
    dup = await client.post(
        "/api/auth/signup", json={"email": "ADA@example.org", "password": PASSWORD, "display_name": "X"}
    )
    assert dup.status_code == 409 and dup.headers["content-type"].startswith(PROBLEM)
    for bad in (
        {"email": "not-an-email", "password": PASSWORD, "display_name": "X"},
        {"email": "b@example.org", "password": "short", "display_name": "X"},
        {"email": "b@example.org", "password": PASSWORD, "display_name": "   "},
        {"email": "b@example.org", "password": PASSWORD},
        {"email": "b@example.org", "password": PASSWORD, "display_name": "X", "is_admin": True},
    ):
        resp = await client.post("/api/auth/signup", json=bad)
        assert resp.status_code == 422, bad
        assert resp.headers["content-type"].startswith(PROBLEM)


async def test_password_is_stored_as_argon2id(client: httpx.AsyncClient, db_url: str) -> None:
    from sqlalchemy import select

    from api.db.models import User
    from api.db.session import session_factory

    await signup(client)
    with session_factory(db_url)() as s:
        stored = s.scalars(select(User.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_wrong_password_is_throttled(client: httpx.AsyncClient) -> None:
    await signup(client)
    for _ in range(3):
        resp = await client.post("/api/auth/login", json={"email": "ada@example.org", "password": "wrong password!"})
        assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)
    blocked = await client.post("/api/auth/login", json={"email": "ada@example.org", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    # unknown accounts answer like wrong passwords (no account enumeration)
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.org", "password": PASSWORD})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "wrong email or password"


async def test_refresh_rotates_and_reuse_signs_out_everywhere(client: httpx.AsyncClient) -> None:
    await signup(client)
    first = await login(client)
    second_device = await login(client)
    rotated = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/users/me", headers=bearer(new))).status_code == 200
    # the old refresh token was rotated away: replaying it is theft, every session ends
    replay = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    for tokens in (new, second_device):
        again = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert again.status_code == 401


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    await signup(client)
    tokens = await login(client)
    out = await client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    after = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert after.status_code == 401


async def test_bad_tokens_are_refused(client: httpx.AsyncClient) -> None:
    await signup(client)
    tokens = await login(client)
    assert (await client.get("/api/users/me")).status_code == 401
    assert (await client.get("/api/users/me", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    # a refresh token is not an access token, and vice versa
    wrong_kind = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    assert (await client.get("/api/users/me", headers=wrong_kind)).status_code == 401
    swapped = await client.post("/api/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert swapped.status_code == 401
    # a token signed with another key
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-key-of-the-right-length-0123456789", algorithm="HS256")
    resp = await client.get("/api/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/api/users/" + "f" * 32)).status_code == 404


async def test_sign_ups_are_throttled_per_address(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=db_url,
        milvus_uri=str(tmp_path / "m.db"),
        serve_uploads=False,
        signup_rate_limit="2/hour",
    )
    app = create_app(settings=settings)
    async with app.router.lifespan_context(app):

        def client_at(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://museed.test")

        async with client_at("203.0.113.7") as script, client_at("198.51.100.20") as neighbour:
            await signup(script, "one@example.org")
            # a taken email counts too: probing for existing accounts spends the same allowance
            taken = await script.post(
                "/api/auth/signup", json={"email": "one@example.org", "password": PASSWORD, "display_name": "x"}
            )
            assert taken.status_code == 409
            blocked = await script.post(
                "/api/auth/signup", json={"email": "two@example.org", "password": PASSWORD, "display_name": "x"}
            )
            assert blocked.status_code == 429 and blocked.headers["content-type"].startswith(PROBLEM)
            assert 1 <= int(blocked.headers["retry-after"]) <= 3600
            # nothing was created past the limit, and another address is not affected
            assert (
                await script.post("/api/auth/login", json={"email": "two@example.org", "password": PASSWORD})
            ).status_code == 401
            await signup(neighbour, "two@example.org")
            assert (
                await neighbour.post("/api/auth/login", json={"email": "two@example.org", "password": PASSWORD})
            ).status_code == 200
