"""Library search latency at catalog scale: per-term p50/p95 of `TrackService.search` (the repository's SQL, the
ORM load and the response model of `GET /api/tracks?q=`), in one process, against an existing library database.
The terms are catalog words read from `tracks.search_text`: the most common ones (the slow case: "the" matches
half of a 90k catalog), a few of middling frequency and rare ones (a handful of tracks each), plus the empty
query (the create page's first request).

    python -m benchmarks.track_search --database-url sqlite:////tmp/h4-lib90k/museed.sqlite
    python -m benchmarks.track_search --database-url postgresql+psycopg2://postgres@127.0.0.1:5432/h4_scale90k

Read-only: it runs SELECTs only.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from typing import Annotated

import typer
from sqlalchemy import select

from benchmarks.common import load_text

app = typer.Typer(add_completion=False)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def catalog_terms(session: object, common: int, rare: int, seed: int) -> list[tuple[str, int]]:
    """(word, tracks whose search text holds it as a word) for the `common` most frequent words of 3+ letters,
    three of middling frequency (the 25th, 50th and 75th percentile word) and `rare` drawn among the rarest
    tenth of the words."""
    from api.db.models import Track

    df: Counter[str] = Counter()
    for (text,) in session.execute(select(Track.search_text)):  # type: ignore[attr-defined]
        df.update({w for w in text.split() if len(w) >= 3 and w.isalpha()})
    ranked = sorted(df.items(), key=lambda x: (-x[1], x[0]))
    chosen = ranked[:common]
    chosen += [ranked[len(ranked) * q // 4] for q in (1, 2, 3) if ranked[len(ranked) * q // 4] not in chosen]
    few = ranked[len(ranked) - max(1, len(ranked) // 10) :]
    chosen += random.Random(seed).sample(few, min(rare, len(few)))
    return chosen


@app.command()
def main(
    database_url: Annotated[str, typer.Option(help="the library database (SQLite or PostgreSQL URL)")],
    repeats: Annotated[int, typer.Option(help="timed searches per term (after one warm-up)")] = 30,
    limit: Annotated[int, typer.Option(help="page size (the API's default is 50, the create page asks 8)")] = 50,
    common: Annotated[int, typer.Option(help="most frequent catalog words")] = 5,
    rare: Annotated[int, typer.Option(help="rare catalog words")] = 4,
    seed: int = 0,
) -> None:
    """Print one row per term: the tracks holding it as a word, the reported total, search p50/p95 in ms (wall
    clock) and the p50 of this process's CPU time (on SQLite the whole search, so it hardly moves with the load
    of a shared machine; on PostgreSQL the client's share only)."""
    from api.common import Page
    from api.db.session import session_factory
    from api.tracks.repository import TrackRepository
    from api.tracks.service import TrackService

    factory = session_factory(database_url)
    with factory() as session:
        terms = [("", 0), *catalog_terms(session, common, rare, seed)]
    print(f"# {database_url}  limit={limit} repeats={repeats}  load {load_text()}")
    print("| term | tracks with the word | total | lower bound | p50 ms | p95 ms | CPU p50 ms |")
    print("|---|---:|---:|:---:|---:|---:|---:|")
    all_ms: list[float] = []
    all_cpu: list[float] = []
    for term, tracks in terms:
        times, cpu = [], []
        out = None
        for i in range(repeats + 1):
            with factory() as session:
                t0, c0 = time.perf_counter(), time.process_time()
                out = TrackService(TrackRepository(session)).search(term, None, Page(limit=limit))
                dt, dc = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
            if i:
                times.append(dt)
                cpu.append(dc)
        all_ms += times
        all_cpu += cpu
        assert out is not None
        bound = "yes" if getattr(out, "total_is_lower_bound", False) else "no"
        print(
            f"| {term or '(empty)'} | {tracks} | {out.total} | {bound} | "
            f"{statistics.median(times):.1f} | {_pct(times, 0.95):.1f} | {statistics.median(cpu):.1f} |"
        )
    print(
        f"| all terms | | | | {statistics.median(all_ms):.1f} | {_pct(all_ms, 0.95):.1f} | "
        f"{statistics.median(all_cpu):.1f} |"
    )


if __name__ == "__main__":
    app()
