"""PostgreSQL timeouts on the request path: a request that would queue behind a lock, or wait for a pooled
connection, answers 503 + Retry-After within the configured budget instead of hanging."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from api.app import create_app
from api.db.session import get_engine
from museed.settings import Settings
from tests.api.conftest import signed_in
from tests.api.test_outages import _assert_unavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(db_url: str) -> str:
    if not db_url.startswith("postgresql"):
        pytest.skip("statement and lock timeouts are PostgreSQL settings; SQLite waits on its busy timeout")
    return db_url


def test_engine_applies_statement_timeout(pg_url: str) -> None:
    with get_engine(pg_url, 300).connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "300ms"
        assert conn.execute(text("SHOW lock_timeout")).scalar() == "300ms"
    with get_engine(pg_url).connect() as conn:  # jobs (catalog load, doctor) keep no limit
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"


async def test_a_request_behind_a_lock_is_a_fast_503(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=pg_url, milvus_uri=str(tmp_path / "m.db"), serve_uploads=False, db_statement_timeout_ms=400
    )
    app = create_app(settings=settings)
    locker = create_engine(pg_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as client:
            client.headers.update(await signed_in(client, "locked-out"))
            assert (await client.get("/api/users/me")).status_code == 200
            with locker.connect() as conn:
                # an operator's migration (or a runaway job) holding the accounts table
                conn.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
                started = time.perf_counter()
                resp = await client.get("/api/users/me")
                elapsed = time.perf_counter() - started
                _assert_unavailable(resp, "database_unavailable")
                assert elapsed < 2.0, elapsed
                conn.rollback()
            assert (await client.get("/api/users/me")).status_code == 200  # the lock gone, served again
    locker.dispose()
