"""Outages of real dependencies, started by the test on its own ports and stopped mid-run: a Milvus server
(killed, frozen, restarted on the same port and data dir) and a PostgreSQL cluster (stopped and started again).

What must hold: requests that need the missing dependency answer 503 + `Retry-After` fast (no hang), the rest
keep working, `/readyz` names what is missing, and the same app recovers without a restart.

The timings these tests print (`-s`) are recorded in docs/BENCHMARKS.md ("Outages")."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.db.load import load_catalog_into_db
from api.db.migrate import upgrade
from api.db.session import session_factory, transaction
from indexing.milvus_index import TrackIndex
from museed.catalog import load_catalog
from museed.settings import Settings
from museed.tags import ground_truth_tags
from museed.vectorset import load_vector_set
from orchestration.stages import track_metadata
from tests.api.conftest import signed_in

PROBLEM = "application/problem+json"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_unavailable(resp: httpx.Response, reason: str) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.json()["reason"] == reason


async def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    resp = await call
    return resp, time.perf_counter() - started


# --- Milvus ------------------------------------------------------------------------------------------------


class RestartableMilvus:
    """A Milvus 2.3.5 standalone server (the `milvus` PyPI package) of this test alone, which can be killed,
    frozen and started again on the same proxy port and data dir."""

    def __init__(self, base: Path) -> None:
        from milvus import MilvusServer, MilvusServerConfig

        peer, client = _free_port(), _free_port()

        class _Config(MilvusServerConfig):  # type: ignore[misc]
            def try_bind_port(self, port: int) -> socket.socket | None:
                # a restart finds its own old port in TIME_WAIT; Milvus binds it with SO_REUSEADDR, so may we
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                    sock.listen()
                    return sock
                except OSError:
                    sock.close()
                    return None

            def write_config(self) -> None:
                # the embedded etcd listens on 2379/2380 unless told otherwise: ports of its own, so this server
                # runs beside the session's shared one (tests/conftest.py) instead of failing to start
                super().write_config()
                configs = Path(self.base_data_dir) / "configs"
                (configs / "etcd.yaml").write_text(
                    f"name: default\nlisten-peer-urls: http://127.0.0.1:{peer}\n"
                    f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
                    f"initial-cluster: default=http://127.0.0.1:{peer}\n"
                    f"listen-client-urls: http://127.0.0.1:{client}\nadvertise-client-urls: http://127.0.0.1:{client}\n"
                )
                milvus_yaml = configs / "milvus.yaml"
                text = milvus_yaml.read_text()
                milvus_yaml.write_text(
                    text.replace("etcd:\n", f"etcd:\n  config:\n    path: {configs / 'etcd.yaml'}\n", 1)
                )

        self.server = MilvusServer(config=_Config(), wait_for_started=False)
        self.server.set_base_dir(str(base))
        self.port = _free_port()
        self.server.listen_port = self.port
        self.uri = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return int(self.server.server_proc.pid)

    def start(self) -> float:
        """Start (again) and wait until healthy; returns the seconds it took."""
        started = time.perf_counter()
        self.server.start()
        self.server.wait_started(timeout=180_000)
        assert self.server.listen_port == self.port, "the restarted server moved to another port"
        return time.perf_counter() - started

    def kill(self) -> None:
        self.server.server_proc.send_signal(signal.SIGKILL)
        self.server.server_proc.wait(timeout=30)
        self.server.stop()

    def stop(self) -> None:
        if self.server.server_proc is not None:
            os.kill(self.pid, signal.SIGCONT)
        self.server.stop()


@pytest.fixture
def own_milvus(tmp_path: Path) -> Iterator[RestartableMilvus]:
    server = RestartableMilvus(tmp_path / "milvus")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _library_on(
    milvus: RestartableMilvus, tmp_path: Path, small_corpus: Path, small_vectors: Path
) -> tuple[str, str, list[int]]:
    """The small corpus in a SQLite catalog and in a collection of `milvus`: (DB URL, alias, two seed ids)."""
    url = f"sqlite:///{tmp_path / 'api.sqlite'}"
    upgrade(url)
    catalog = load_catalog(small_corpus)
    with transaction(session_factory(url)) as s:
        load_catalog_into_db(s, catalog)
    alias = f"tracks_{uuid.uuid4().hex[:8]}"
    builder = TrackIndex(milvus.uri, alias=alias)
    builder.build(
        load_vector_set(small_vectors),
        track_metadata(catalog, ground_truth_tags(small_corpus / "synth_ground_truth.csv")),
    )
    builder.close()
    return url, alias, [int(t) for t in load_vector_set(small_vectors).track_ids[:2]]


@pytest.mark.milvus_server
@pytest.mark.slow
async def test_milvus_outage_is_a_fast_503_for_generation_only_and_recovers(
    own_milvus: RestartableMilvus, tmp_path: Path, small_corpus: Path, small_vectors: Path
) -> None:
    url, alias, seeds = _library_on(own_milvus, tmp_path, small_corpus, small_vectors)
    # the app opens its own index, with the serving timeout, as in production
    settings = Settings(database_url=url, milvus_uri=own_milvus.uri, milvus_alias=alias, serve_uploads=False)
    app = create_app(settings=settings)
    timings: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as client:
            client.headers.update(await signed_in(client, "outage"))
            made = await client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5})
            assert made.status_code == 201, made.text
            playlist_id = made.json()["id"]
            assert (
                await client.patch(f"/api/playlists/{playlist_id}", json={"visibility": "public"})
            ).status_code == 200
            assert (await client.get("/readyz")).status_code == 200

            # frozen server (SIGSTOP): the call timeout turns a hang into a 503
            os.kill(own_milvus.pid, signal.SIGSTOP)
            try:
                resp, timings["frozen_first_503_s"] = await _timed(
                    client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5})
                )
                _assert_unavailable(resp, "vector_index_unavailable")
                assert timings["frozen_first_503_s"] < 1.0
            finally:
                os.kill(own_milvus.pid, signal.SIGCONT)
            time.sleep(1.2)  # past the cool-down: the next call tries the (thawed) server again
            resp = await client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5})
            assert resp.status_code == 201, resp.text

            # killed server: generation is 503 at once, everything else keeps working
            own_milvus.kill()
            resp, timings["killed_first_503_s"] = await _timed(
                client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5})
            )
            _assert_unavailable(resp, "vector_index_unavailable")
            assert timings["killed_first_503_s"] < 1.0
            resp, timings["killed_refresh_503_s"] = await _timed(client.post(f"/api/playlists/{playlist_id}/refresh"))
            _assert_unavailable(resp, "vector_index_unavailable")
            assert timings["killed_refresh_503_s"] < 1.0
            time.sleep(1.2)  # after the cool-down too (a new client is tried, and fails fast)
            resp, timings["killed_later_503_s"] = await _timed(
                client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5})
            )
            _assert_unavailable(resp, "vector_index_unavailable")
            assert timings["killed_later_503_s"] < 1.0

            assert (await client.get(f"/api/playlists/{playlist_id}")).status_code == 200
            assert (await client.get("/api/playlists")).status_code == 200
            assert (await client.get("/api/feed")).status_code == 200
            detail = await client.get(f"/api/tracks/{seeds[0]}")  # catalog detail, without the index's tags
            assert detail.status_code == 200, detail.text
            word = detail.json()["title"].split()[0]
            search = await client.get("/api/tracks", params={"q": word})  # library search runs on the DB
            assert search.status_code == 200, search.text
            assert seeds[0] in [t["track_id"] for t in search.json()["items"]]
            assert (await client.get(f"/api/playlists/{playlist_id}/export.m3u")).status_code == 200
            ready, timings["readyz_s"] = await _timed(client.get("/readyz"))
            assert ready.status_code == 503
            checks = ready.json()["checks"]
            assert checks["database"] == "ok"
            assert "VectorIndexUnavailable" in str(checks["vector_index"]), checks

            # the server returns on the same port and data dir: the same app recovers
            timings["milvus_restart_s"] = own_milvus.start()
            started = time.perf_counter()
            deadline = started + 60
            while True:
                resp = await client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5})
                if resp.status_code == 201 or time.perf_counter() > deadline:
                    break
                _assert_unavailable(resp, "vector_index_unavailable")  # never a 500 while it comes back
                time.sleep(0.25)
            timings["recovered_after_ready_s"] = time.perf_counter() - started
            assert resp.status_code == 201, resp.text
            assert (await client.post(f"/api/playlists/{playlist_id}/refresh")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
    print("\nmilvus outage timings:", {k: round(v, 3) for k, v in timings.items()})


# --- PostgreSQL --------------------------------------------------------------------------------------------


class OwnPostgres:
    """A PostgreSQL 15 cluster of this test alone (initdb + pg_ctl as the postgres user) on a free port."""

    def __init__(self) -> None:
        # under /tmp, not pytest's tmp_path: the postgres user must be able to enter the directory
        self.root = Path(tempfile.mkdtemp(prefix="museed-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _as_postgres(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/museed"

    def start(self) -> float:
        started = time.perf_counter()
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
            "-w",
            "start",
        )
        return time.perf_counter() - started

    def stop(self, mode: str = "immediate") -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    pg = OwnPostgres()
    pg.start()
    from sqlalchemy import create_engine, text

    admin = create_engine(pg.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE museed"))
    admin.dispose()
    try:
        yield pg
    finally:
        from api.db.session import get_engine

        get_engine.cache_clear()
        pg.remove()


@pytest.mark.postgres
async def test_postgres_outage_is_a_fast_503_and_recovers_without_restart(
    own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    upgrade(own_postgres.url)
    settings = Settings(database_url=own_postgres.url, milvus_uri=str(tmp_path / "m.db"), serve_uploads=False)
    app = create_app(settings=settings)
    timings: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as client:
            client.headers.update(await signed_in(client, "pg-outage"))
            assert (await client.get("/api/users/me")).status_code == 200
            assert (await client.get("/api/feed")).status_code == 200

            own_postgres.stop("immediate")  # as a crash: no goodbye to the pooled connections
            resp, timings["first_503_s"] = await _timed(client.get("/api/users/me"))
            _assert_unavailable(resp, "database_unavailable")
            resp, timings["second_503_s"] = await _timed(client.get("/api/feed"))
            _assert_unavailable(resp, "database_unavailable")
            resp, timings["signup_503_s"] = await _timed(
                client.post(
                    "/api/auth/signup",
                    json={"email": f"x-{uuid.uuid4().hex[:6]}@example.org", "password": "a long enough password"}
                    | {"display_name": "X"},
                )
            )
            _assert_unavailable(resp, "database_unavailable")
            assert max(timings.values()) < 1.0, timings
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert str(ready.json()["checks"]["database"]).startswith("error: OperationalError")

            timings["postgres_restart_s"] = own_postgres.start()
            started = time.perf_counter()
            resp = await client.get("/api/users/me")
            timings["recovered_after_ready_s"] = time.perf_counter() - started
            assert resp.status_code == 200, resp.text  # pool_pre_ping replaced the dead connections
            assert (await client.get("/api/feed")).status_code == 200
            assert (await client.get("/readyz")).json()["checks"]["database"] == "ok"
    print("\npostgres outage timings:", {k: round(v, 3) for k, v in timings.items()})


@pytest.mark.milvus_server
@pytest.mark.slow
async def test_an_api_started_while_milvus_is_down_serves_once_it_returns(
    own_milvus: RestartableMilvus, tmp_path: Path, small_corpus: Path, small_vectors: Path
) -> None:
    """Start-up found Milvus down: requests get 503 + Retry-After, and the same process serves playlists once
    Milvus is back (no restart). pymilvus 3 opens clients lazily, so the index object exists and its calls
    reconnect; where opening itself fails, `api.deps.IndexOpener` tries again (test_index_opener_retries)."""
    url, alias, seeds = _library_on(own_milvus, tmp_path, small_corpus, small_vectors)
    own_milvus.kill()
    settings = Settings(database_url=url, milvus_uri=own_milvus.uri, milvus_alias=alias, serve_uploads=False)
    app = create_app(settings=settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as client:
            client.headers.update(await signed_in(client, "late-index"))
            resp, took = await _timed(client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5}))
            _assert_unavailable(resp, "vector_index_unavailable")
            assert took < 2.0, took
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            failed = str(ready.json()["checks"]["vector_index"]).lower()
            assert "unreachable" in failed or "unavailable" in failed, failed
            assert (await client.get("/api/feed")).status_code == 200  # the catalog side serves meanwhile

            own_milvus.start()
            deadline = time.perf_counter() + 90
            while True:
                resp = await client.post("/api/playlists", json={"seed_track_ids": seeds, "size": 5})
                if resp.status_code == 201 or time.perf_counter() > deadline:
                    break
                _assert_unavailable(resp, "vector_index_unavailable")  # never a 500 while it comes back
                await asyncio.sleep(0.5)
            assert resp.status_code == 201, resp.text
            assert (await client.get("/readyz")).status_code == 200


def test_index_opener_retries_at_most_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening the index at start-up raised: the opener tries again on a request, at most once per interval,
    and the index it opens is served from then on."""
    from types import SimpleNamespace

    from api import deps

    clock = [100.0]
    monkeypatch.setattr(deps.time, "monotonic", lambda: clock[0])
    tries: list[float] = []
    opened = SimpleNamespace(ensure_loaded=lambda: "tracks_1")

    def open_index() -> Any:
        tries.append(clock[0])
        if len(tries) < 2:
            raise ConnectionError("Milvus is down")
        return opened

    opener = deps.IndexOpener(open_index)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(track_index=None, index_opener=opener)))
    assert deps.get_optional_index(request) is None and tries == [100.0]  # type: ignore[arg-type]
    clock[0] += 1.0
    assert deps.get_optional_index(request) is None and tries == [100.0]  # type: ignore[arg-type]
    clock[0] += deps.INDEX_REOPEN_SECONDS
    assert deps.get_optional_index(request) is opened  # type: ignore[arg-type]
    assert request.app.state.track_index is opened and len(tries) == 2
