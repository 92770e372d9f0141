"""What the `commercial_use` filter of `POST /v1/recommendations` costs: the index has no licence field, so the
service over-fetches picks and filters them by their catalog licence. Times the same track-id queries with and
without the filter, in process over HTTP (ASGI), on a synthetic library built with the load-test builder
(embedded defaults: SQLite + Milvus Lite), and prints the share of commercially usable tracks.

    python -m benchmarks.b2b_commercial --tracks 300 --queries 100 --count 20
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated

import httpx
import typer
from sqlalchemy import select

from api.app import create_app
from api.b2b.licences import allows_commercial_use
from api.b2b.plans import Plan
from api.b2b.service import b2b_service_for
from api.db.models import Track
from api.db.session import session_factory, transaction
from benchmarks.common import Command, Machine, nearest_rank
from orchestration.loadtest import LibrarySpec, build_library

app = typer.Typer(add_completion=False)
#: limits no benchmark run reaches
UNLIMITED = Plan("bench", 10**9, 10**9, 10**9, 10**9, 100)


async def _run(data_dir: Path, tracks: int, queries: int, count: int) -> None:
    settings = build_library(data_dir, LibrarySpec(tracks=tracks), log=typer.echo)
    api = create_app(settings=settings)
    api.state.b2b_plans = {"bench": UNLIMITED, "free": UNLIMITED}
    async with api.router.lifespan_context(api):
        with transaction(session_factory(settings.sqlalchemy_url)) as s:
            b2b = b2b_service_for(s, api.state.b2b_plans)
            key = b2b.create_key(b2b.create_org(f"bench-{uuid.uuid4().hex[:8]}").id, "bench", ["recommend"]).key
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            c.headers["Authorization"] = f"Bearer {key}"
            meta = (await c.get("/v1/meta")).json()
            with transaction(session_factory(settings.sqlalchemy_url)) as s:
                catalog = list(s.execute(select(Track.track_id, Track.license)))
            ids = [int(t) for t, _ in catalog]
            usable = sum(allows_commercial_use(lic) for _, lic in catalog)
            typer.echo(f"{meta['indexed_tracks']} tracks indexed; {usable} of the {len(ids)} in the catalog usable")
            rng = random.Random(0)
            seeds = [rng.choice(ids) for _ in range(queries)]
            for commercial in (False, True, False, True):  # interleaved: warm-up effects hit both alike
                times, short = [], 0
                for seed in seeds:
                    body = {"seed_track_ids": [seed], "count": count, "commercial_use": commercial}
                    started = time.perf_counter()
                    r = await c.post("/v1/recommendations", json=body)
                    times.append((time.perf_counter() - started) * 1000)
                    r.raise_for_status()
                    short += r.json()["count"] < count
                times.sort()
                typer.echo(
                    f"commercial_use={commercial!s:5}: {queries} queries of {count}, p50 "
                    f"{nearest_rank(times, 0.5):.1f} ms, p95 {nearest_rank(times, 0.95):.1f} ms; "
                    f"{short} answered fewer than {count}"
                )


@app.command(cls=Command, help=__doc__)
def main(
    tracks: Annotated[int, typer.Option("--tracks")] = 300,
    queries: Annotated[int, typer.Option("--queries")] = 100,
    count: Annotated[int, typer.Option("--count")] = 20,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="reuse a library built here")] = None,
) -> None:
    machine = Machine.now()
    typer.echo(f"{machine.cpus} CPUs ({machine.cpu}), Python {machine.python}, load {machine.load}")
    if data_dir is not None:
        asyncio.run(_run(data_dir, tracks, queries, count))
        return
    with tempfile.TemporaryDirectory(prefix="museed-b2b-commercial-") as tmp:
        asyncio.run(_run(Path(tmp), tracks, queries, count))


if __name__ == "__main__":
    app()
