"""The end-to-end stack of the API tests: synthetic corpus -> small MuQ vectors -> Milvus -> DB, and a signed-in
HTTP client over it.

Two stacks: the embedded defaults (SQLite + Milvus Lite) and the production pair (PostgreSQL + Milvus server),
each built once for the whole `tests/api` package.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.db.load import load_catalog_into_db
from api.db.session import session_factory, transaction
from indexing.milvus_index import TrackIndex
from museed.catalog import load_catalog
from museed.settings import Settings
from museed.tags import ground_truth_tags
from museed.vectorset import VectorSet, load_vector_set
from orchestration.stages import track_metadata

PROBLEM = "application/problem+json"


@pytest.fixture(
    scope="package",
    params=[
        pytest.param(("sqlite", "lite"), id="sqlite+milvus-lite"),
        pytest.param(
            ("postgresql", "server"),
            id="postgres+milvus-server",
            marks=[pytest.mark.postgres, pytest.mark.milvus_server],
        ),
    ],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, small_corpus: Path, small_vectors: Path
) -> dict[str, Any]:
    """A loaded DB and a built index for the small corpus, on the requested stack (built once per package)."""
    db_kind, milvus_kind = request.param
    tmp_path = tmp_path_factory.mktemp("api-stack")
    unique_alias = f"tracks_{uuid.uuid4().hex[:8]}"
    from tests.conftest import _create_pg_database, _drop_pg_database

    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.sqlite'}"
    else:
        name, url = _create_pg_database()
        request.addfinalizer(lambda: _drop_pg_database(name))
    from api.db.migrate import upgrade

    upgrade(url)
    catalog = load_catalog(small_corpus)
    with transaction(session_factory(url)) as s:
        load_catalog_into_db(s, catalog)
    uri = str(tmp_path / "m.db") if milvus_kind == "lite" else request.getfixturevalue("milvus_server")
    vs = load_vector_set(small_vectors)
    index = TrackIndex(uri, alias=unique_alias)
    # the synthetic corpus' ground-truth tags stand in for a tagging run (filters and "why" use them)
    tags = ground_truth_tags(small_corpus / "synth_ground_truth.csv")
    index.build(vs, track_metadata(catalog, tags))
    request.addfinalizer(index.close)
    settings = Settings(
        database_url=url,
        milvus_uri=uri,
        milvus_alias=unique_alias,
        # the library's segment policy (see small_vectors): uploads must be embedded the same way
        segment_seconds=2.0,
        segments_per_track=2,
        max_upload_bytes=2 * 1024 * 1024,
    )
    from embedding.encoders import load_encoder

    encoder = load_encoder("small:0", settings=settings)
    return {"settings": settings, "index": index, "vectors": vs, "catalog": catalog, "encoder": encoder, "tags": tags}


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on a free port in a thread of this process (lifespan on); yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def signed_in(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Sign up + log in a fresh user; returns the Authorization header."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
    creds = {"email": email, "password": "a long enough password"}
    assert (await client.post("/api/auth/signup", json={**creds, "display_name": name})).status_code == 201
    tokens = (await client.post("/api/auth/login", json=creds)).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
async def client(stack: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as a fresh user (`client.headers` carries the bearer token)."""
    app = create_app(settings=stack["settings"], track_index=stack["index"], encoder=stack["encoder"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:
            c.headers.update(await signed_in(c, "listener"))
            yield c


def exact_top(vs: VectorSet, query: np.ndarray, exclude: set[int], allowed: set[int] | None = None) -> list[int]:
    """Brute-force ranking of every track by cosine with `query` (ground truth for the index)."""
    scores = vs.vectors @ query
    order = np.argsort(-scores)
    return [
        int(vs.track_ids[i])
        for i in order
        if int(vs.track_ids[i]) not in exclude and (allowed is None or int(vs.track_ids[i]) in allowed)
    ]
