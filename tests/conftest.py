"""Shared fixtures: real PostgreSQL and SQLite databases, Milvus Lite and a real Milvus server, a demo corpus."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("MUSEED_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _isolate_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Never touch the developer's data/ or HF cache from tests."""
    data = tmp_path_factory.mktemp("museed-data")
    names = ("MUSEED_DATA_DIR", "MUSEED_SIGNUP_RATE_LIMIT", "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM")
    old = {k: os.environ.get(k) for k in names}
    os.environ["MUSEED_DATA_DIR"] = str(data)
    # every test signs up from the same address; the sign-up throttle has its own test (tests/api/test_users.py)
    os.environ["MUSEED_SIGNUP_RATE_LIMIT"] = "100000/hour"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from museed.settings import get_settings

    get_settings.cache_clear()
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


def _create_pg_database() -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    name = f"museed_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    from api.db.session import get_engine

    get_engine.cache_clear()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database: a SQLite file, or a fresh database on the PostgreSQL server."""
    from api.db.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'museed.sqlite'}"
        upgrade(url)
        yield url
        return
    if not _pg_available():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (start it; .ci/run does)")
    name, url = _create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        _drop_pg_database(name)


def _start_milvus_server(base: Path) -> tuple[object, int]:
    """Start one Milvus 2.3.5 standalone server under `base`; raises with the tail of its log on failure."""
    from milvus import MilvusServer

    server = MilvusServer(wait_for_started=False)
    server.set_base_dir(str(base))
    with socket.socket() as s:  # a free proxy port, so parallel sessions do not collide
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server.listen_port = port
    server.start()
    try:
        server.wait_started(timeout=180_000)  # a loaded 2-core machine can take minutes
    except Exception as exc:
        server.stop()
        logs = sorted((base / "logs").glob("*.log")) if (base / "logs").exists() else []
        tail = "\n".join(line for f in logs for line in f.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"Milvus server did not start under {base}: {exc}\n{tail}") from exc
    return server, port


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus 2.3.5 standalone server (the `milvus` PyPI package), started once per test session.

    Its internal ports are chosen by probing, which can race with another Milvus starting on the machine at the
    same moment; one retry on fresh ports covers that."""
    try:
        server, port = _start_milvus_server(tmp_path_factory.mktemp("milvus-server"))
    except RuntimeError:
        server, port = _start_milvus_server(tmp_path_factory.mktemp("milvus-server-retry"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()  # type: ignore[attr-defined]


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.milvus_server)])
def milvus_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A Milvus Lite file, or the shared Milvus server (tests use a unique alias per test there)."""
    if request.param == "lite":
        return str(tmp_path / "milvus.db")
    return str(request.getfixturevalue("milvus_server"))


@pytest.fixture
def unique_alias() -> str:
    """A serving-alias name no other test uses (collections on the shared server stay apart)."""
    return f"tracks_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64-track synthetic corpus in the FMA layout (all 16 genres present), 4 s per track."""
    from synth import synthesize_corpus

    root = tmp_path_factory.mktemp("fma-small")
    synthesize_corpus(root, tracks=64, seconds=4.0, seed=7, workers=2)
    return root


@pytest.fixture(scope="session")
def small_vectors(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small corpus embedded with the small random MuQ (3 segments of 2 s per track)."""
    from museed.settings import Settings
    from orchestration.stages import run_embed

    out = tmp_path_factory.mktemp("vectors") / "small"
    settings = Settings(segment_seconds=2.0, segments_per_track=2)
    report = run_embed(small_corpus, out, settings, encoder_spec="small:0")
    assert report.done > 0
    return out
