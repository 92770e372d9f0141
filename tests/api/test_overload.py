"""Overload and failing dependencies: admission control answers 503 + Retry-After at once, probes stay served,
and a busy or unreachable database is a 503 with Retry-After, never a 500 or a hang."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from api.admission import AdmissionControl
from api.app import create_app
from museed.settings import Settings

PROBLEM = "application/problem+json"


def _held_app(limit: int, wait_seconds: float) -> tuple[FastAPI, asyncio.Event]:
    app = FastAPI()
    release = asyncio.Event()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await release.wait()
        return {"status": "done"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(AdmissionControl, limit=limit, wait_seconds=wait_seconds)
    return app, release


async def test_requests_past_the_limit_are_refused_at_once_with_retry_after() -> None:
    app, release = _held_app(limit=2, wait_seconds=0.05)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        refused = await client.get("/slow")
        took = time.perf_counter() - started
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["reason"] == "overloaded"
        assert took < 1.0
        # probes are never held back
        assert (await client.get("/healthz")).status_code == 200
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        # the slots came back
        assert (await client.get("/slow")).status_code == 200


async def test_a_request_waits_briefly_for_a_slot_instead_of_failing() -> None:
    app, release = _held_app(limit=1, wait_seconds=2.0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(0.1)
        release.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200


async def test_an_unreachable_database_is_a_fast_503(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql+psycopg2://museed@127.0.0.1:9/museed?connect_timeout=2",  # port 9: nothing listens
        milvus_uri=str(tmp_path / "m.db"),
        serve_uploads=False,
    )
    app = create_app(settings=settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = time.perf_counter()
            resp = await client.get("/api/feed")
            assert time.perf_counter() - started < 3.0
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"] == PROBLEM
            assert resp.headers["retry-after"] == "2"
            assert resp.json()["reason"] == "database_unavailable"
            signup = await client.post(
                "/api/auth/signup",
                json={"email": "a@example.org", "password": "correct horse battery", "display_name": "A"},
            )
            assert signup.status_code == 503
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 503


async def test_a_locked_sqlite_database_is_a_503_not_a_500(tmp_path: Path) -> None:
    db = tmp_path / "locked.sqlite"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        milvus_uri=str(tmp_path / "m.db"),
        serve_uploads=False,
        secret_key="test-secret-not-the-placeholder-0123456789",  # type: ignore[arg-type]
    )
    from orchestration.stages import run_db_upgrade

    run_db_upgrade(settings)
    app = create_app(settings=settings)
    # another writer holds the write lock for longer than SQLite's lock wait (5 s)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    unlocked = threading.Timer(8.0, locker.rollback)
    unlocked.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                resp = await client.post(
                    "/api/auth/signup",
                    json={"email": "b@example.org", "password": "correct horse battery", "display_name": "B"},
                )
                assert resp.status_code == 503, resp.text
                assert resp.headers["retry-after"] == "2"
    finally:
        unlocked.cancel()
        locker.rollback()
        locker.close()


async def test_a_missing_vector_index_is_a_503_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'n.sqlite'}",
        milvus_uri=str(tmp_path / "m.db"),
        serve_uploads=False,
        secret_key="test-secret-not-the-placeholder-0123456789",  # type: ignore[arg-type]
    )
    from orchestration.stages import run_db_upgrade

    run_db_upgrade(settings)
    app = create_app(settings=settings)
    async with app.router.lifespan_context(app):
        app.state.track_index = None  # as when Milvus could not be opened at start-up
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            creds = {"email": "c@example.org", "password": "correct horse battery"}
            assert (await client.post("/api/auth/signup", json={**creds, "display_name": "C"})).status_code == 201
            token = (await client.post("/api/auth/login", json=creds)).json()["access_token"]
            resp = await client.post(
                "/api/playlists", json={"seed_track_ids": [2]}, headers={"Authorization": f"Bearer {token}"}
            )
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"] == PROBLEM
            assert resp.headers["retry-after"] == "5"
