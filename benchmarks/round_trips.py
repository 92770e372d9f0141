"""Round trips and CPU per request (load-independent): SQL statements (a SQLAlchemy `before_cursor_execute`
listener on every engine), Redis writes (one packed socket write per round trip) and the API process's own CPU
time (`time.process_time`: the Milvus server, Milvus Lite's process, PostgreSQL and Redis are other processes) of
each journey request, run in-process (ASGI, one request at a time) on a catalog-scale library (SQLite + Milvus Lite
unless `--database-url` is PostgreSQL; `--milvus-server` builds it into a Milvus server this run starts) with the
B2B limiter on Redis. Milvus Lite runs inside the API process, so only with `--milvus-server` is the CPU column
the API's own. `--profile-out` writes a cProfile of the
measured requests (CPU time) to read with `python -m pstats`.

    python -m benchmarks.round_trips --tracks 2000 --data-dir /tmp/museed-rt --redis-url redis://127.0.0.1:6379/0
    python -m benchmarks.round_trips --tracks 20000 --data-dir /tmp/museed-rt-server --milvus-server \
        --database-url postgresql+psycopg2://postgres@127.0.0.1:5432/museed_rt
"""

from __future__ import annotations

import asyncio
import cProfile
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import httpx
import redis
import typer
from sqlalchemy import event
from sqlalchemy.engine import Engine

from benchmarks.common import Command, Machine, ensure_database, start_server

app = typer.Typer(add_completion=False)


class Counter:
    """SQL statements and Redis round trips since the last `take()`."""

    def __init__(self) -> None:
        self.sql = 0
        self.redis = 0
        self.statements: list[str] = []

        @event.listens_for(Engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            self.sql += 1
            self.statements.append(" ".join(statement.split())[:90])

        original = redis.connection.AbstractConnection.send_packed_command

        def counted(conn: Any, command: Any, check_health: bool = True) -> None:
            self.redis += 1
            original(conn, command, check_health)  # type: ignore[no-untyped-call]

        redis.connection.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

    def take(self) -> tuple[int, int, list[str]]:
        out = (self.sql, self.redis, self.statements)
        self.sql, self.redis, self.statements = 0, 0, []
        return out


async def _journey(
    settings: Any, repeats: int, verbose: bool, profiler: cProfile.Profile | None
) -> dict[str, list[tuple[int, int, float]]]:
    from sqlalchemy import select

    from api.app import create_app
    from api.b2b.service import b2b_service_for
    from api.db.models import Track
    from api.db.session import session_factory, transaction

    with transaction(session_factory(settings.sqlalchemy_url)) as s:
        seeds = list(s.scalars(select(Track.track_id).order_by(Track.track_id).limit(50)))
        b2b = b2b_service_for(s)
        org = b2b.create_org(f"rt-{uuid.uuid4().hex[:8]}")
        key = b2b.create_key(org.id, "pro", ["recommend"], "rt").key
    counter = Counter()
    out: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    app_ = create_app(settings=settings)
    async with app_.router.lifespan_context(app_):
        transport = httpx.ASGITransport(app=app_)
        async with httpx.AsyncClient(transport=transport, base_url="http://museed.test") as c:

            async def user(name: str) -> tuple[dict[str, str], str]:
                email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
                creds = {"email": email, "password": "a long enough password"}
                r = await c.post("/api/auth/signup", json={**creds, "display_name": name})
                tokens = (await c.post("/api/auth/login", json=creds)).json()
                return {"Authorization": f"Bearer {tokens['access_token']}"}, r.json()["id"]

            (alice, _), (bob, bob_id) = await user("alice"), await user("bob")

            async def timed(name: str, method: str, url: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
                counter.take()
                if profiler is not None:
                    profiler.enable()
                cpu = time.process_time()
                r = await c.request(method, url, headers=headers, **kw)
                cpu = time.process_time() - cpu
                if profiler is not None:
                    profiler.disable()
                sql, rtt, statements = counter.take()
                assert r.status_code < 400, (name, r.status_code, r.text[:300])
                out[name].append((sql, rtt, cpu * 1000))
                if verbose and len(out[name]) == repeats:
                    typer.echo(f"-- {name}: {sql} statements")
                    for st in statements:
                        typer.echo(f"   {st}")
                return r

            for i in range(repeats):
                body = {"seed_track_ids": seeds[i : i + 2], "size": 20}
                pid = (await timed("POST /api/playlists", "POST", "/api/playlists", bob, json=body)).json()["id"]
                await timed("PATCH /api/playlists/{id}", "PATCH", f"/api/playlists/{pid}", bob,
                            json={"visibility": "public"})  # fmt: skip
                await timed("GET /api/playlists/{id}", "GET", f"/api/playlists/{pid}", alice)
                await timed("PUT /api/playlists/{id}/like", "PUT", f"/api/playlists/{pid}/like", alice)
                await timed("PUT /api/users/{id}/follow", "PUT", f"/api/users/{bob_id}/follow", alice)
                await timed("GET /api/feed?sort=recent", "GET", "/api/feed?sort=recent", alice)
                await timed("GET /api/feed/following", "GET", "/api/feed/following", alice)
                await timed("GET /api/tracks?q=", "GET", "/api/tracks?q=the", alice)
                await timed("POST /v1/recommendations", "POST", "/v1/recommendations",
                            {"Authorization": f"Bearer {key}"}, json={"seed_track_ids": seeds[i : i + 2]})  # fmt: skip
    return out


@app.command(cls=Command, help=__doc__)
def main(
    data_dir: Annotated[Path, typer.Option("--data-dir")] = Path("/tmp/museed-round-trips"),
    tracks: Annotated[int, typer.Option("--tracks")] = 2000,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    redis_url: Annotated[str, typer.Option("--redis-url")] = "redis://127.0.0.1:6379/0",
    repeats: Annotated[int, typer.Option("--repeats")] = 5,
    verbose: Annotated[bool, typer.Option("--verbose", help="print the statements of the last repeat")] = False,
    profile_out: Annotated[Path | None, typer.Option("--profile-out", help="write a cProfile (CPU time) here")] = None,
    milvus_server: Annotated[
        bool, typer.Option("--milvus-server", help="build the library into a Milvus server started for this run")
    ] = False,
) -> None:
    from orchestration.scale_library import ScaleLibrarySpec, build_scale_library

    machine = Machine.now()
    typer.echo(f"{machine.cpus} CPUs ({machine.cpu}), Python {machine.python}, load {machine.load}")
    if database_url is not None and database_url.startswith("postgresql"):
        ensure_database(database_url)
    server, milvus_uri = start_server(tempfile.mkdtemp(prefix="museed-rt-milvus-")) if milvus_server else (None, None)
    try:
        if milvus_uri is not None and (data_dir / "scale_library.json").is_file():
            (data_dir / "scale_library.json").unlink()  # the collection lives in this run's server: build it again
        settings, report = build_scale_library(
            data_dir,
            ScaleLibrarySpec(tracks=tracks, database_url=database_url, milvus_uri=milvus_uri),
            log=lambda _: None,
        )
        settings = settings.model_copy(
            # two sign-ups per run from one address: the sign-up throttle is not what this counts
            update={
                "redis_url": redis_url,
                "redis_key_prefix": f"rt-{uuid.uuid4().hex[:8]}",
                "signup_rate_limit": "100000/hour",
            }
        )
        typer.echo(f"library: {report.tracks} tracks, {report.database}, Milvus {milvus_uri or 'Lite (in process)'}")
        profiler = cProfile.Profile(time.process_time) if profile_out else None
        out = asyncio.run(_journey(settings, repeats, verbose, profiler))
    finally:
        if server is not None:
            server.stop()
    header = f"{'request':<32} {'SQL statements':>15} {'Redis round trips':>18} {'API CPU ms':>11}"
    typer.echo(f"{header}   (median of {repeats})")
    for name, counts in out.items():
        sql = statistics.median(c[0] for c in counts)
        rtt = statistics.median(c[1] for c in counts)
        cpu = statistics.median(c[2] for c in counts)
        typer.echo(f"{name:<32} {sql:>15g} {rtt:>18g} {cpu:>11.1f}")
    if profiler is not None and profile_out is not None:
        profile_out.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile_out)
        typer.echo(f"cProfile (CPU time) of the measured requests: {profile_out}")


if __name__ == "__main__":
    app()
