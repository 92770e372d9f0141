"""What the benchmarks share: machine facts, timing and summaries, a Milvus server, JSON results, the synthetic
clustered vectors of the index benchmarks, a catalog's tracks as the embedding job reads them, and the Typer
command class that reads argparse-style `nargs="+"`.

Every helper keeps the exact arithmetic the scripts had inline (same clock, same float operation order), so a
benchmark moved onto them prints the same figures.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from typer.core import TyperCommand, TyperOption

if TYPE_CHECKING:
    from typer._click.core import Context  # the click typer vendors: what TyperCommand.parse_args takes


T = TypeVar("T")

N_GENRES = 16


# ---- machine facts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """The facts a benchmark records next to its figures, read once at the moment they are written."""

    cpus: int | None
    cpu: str
    python: str
    load: tuple[float, float, float]

    @classmethod
    def now(cls) -> Machine:
        """This machine, with its load average as of now."""
        return cls(
            cpus=os.cpu_count(),
            cpu=platform.processor() or platform.machine(),
            python=platform.python_version(),
            load=os.getloadavg(),
        )


def load_text() -> str:
    """The 1-, 5- and 15-minute load averages as of now, `"1.23 0.98 0.75"`."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- timing and summaries ----------------------------------------------------------------------------------


def time_per_query(fn: Callable[..., Any], queries: np.ndarray) -> tuple[np.ndarray, float]:
    """Run `fn(one_query) -> ids` for each query in turn; (ids, mean ms/query)."""
    out = []
    t0 = time.perf_counter()
    for q in queries:
        out.append(fn(q))
    return np.array(out), (time.perf_counter() - t0) * 1000 / len(queries)


def ms_per_query(fn: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    """Run `fn(one_query)` for each query in turn, results discarded; mean ms/query."""
    t0 = time.perf_counter()
    for q in queries:
        fn(q)
    return (time.perf_counter() - t0) * 1000 / len(queries)


def repeat_timed(
    fn: Callable[[], T], repeats: int, before: Callable[[], object] | None = None
) -> tuple[T | None, list[float]]:
    """Call `fn` `repeats` times (`before`, untimed, ahead of each call); (the last result, seconds per call)."""
    result: T | None = None
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times


def nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of ascending `sorted_values` by nearest rank (no interpolation)."""
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


# ---- Milvus server -----------------------------------------------------------------------------------------


def start_server(base_dir: str) -> tuple[Any, str]:
    """A Milvus 2.3.5 standalone server (the `milvus` PyPI package) on a free port; (server, uri)."""
    from milvus import MilvusServer

    server = MilvusServer()
    server.set_base_dir(base_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server.listen_port = port
    server.start()
    return server, f"http://127.0.0.1:{port}"


@contextmanager
def milvus_server(prefix: str) -> Iterator[str]:
    """A Milvus server on a fresh temporary base directory for the block; yields its uri, stops it after."""
    server, uri = start_server(tempfile.mkdtemp(prefix=prefix))
    try:
        yield uri
    finally:
        server.stop()


# ---- results -----------------------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` when it does not exist (trust auth on localhost)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}):
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write `record` as indented JSON (numpy scalars as floats) plus a final newline, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=float) + "\n", encoding="utf-8")


# ---- synthetic vectors -------------------------------------------------------------------------------------


def synthetic_tracks(
    n: int, n_queries: int, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(base vectors, base genre ids, query vectors, query genre ids) of hierarchical clustered unit vectors.

    16 genres with Zipf-like sizes (so one is rare), artists of ~10 tracks each, track = genre centre + artist
    offset + track noise, L2-normalised; queries are new tracks by existing artists.
    """
    from orchestration.scale_library import ClusteredVectors  # the one generator (also the 90k load-test library)

    rng = np.random.default_rng(seed)
    sizes = 1.0 / np.arange(1, N_GENRES + 1) ** 1.1  # Zipf-like: the rarest genre holds ~1.5 % of tracks
    p_genre = sizes / sizes.sum()
    n_artists = max(1, n // 10)
    model = ClusteredVectors.draw(rng, dim, N_GENRES, n_artists, p_genre=p_genre)

    def tracks(count: int) -> tuple[np.ndarray, np.ndarray]:
        artist = rng.integers(0, n_artists, size=count)
        return model.tracks(artist, rng), model.artist_genre[artist]

    base, base_genre = tracks(n)
    queries, query_genre = tracks(n_queries)
    return base, base_genre, queries, query_genre


# ---- corpus ------------------------------------------------------------------------------------------------


# ---- command line ------------------------------------------------------------------------------------------


def _is_option(token: str) -> bool:
    """`--x` / `-x` name an option; `-5` or `-0.5` is a (negative) value, as argparse reads it."""
    return token.startswith("-") and len(token) > 1 and not token[1].isdigit() and token[1] != "."


class Command(TyperCommand):
    """A benchmark's command: every `multiple` option also reads argparse's `nargs="+"` form, as the scripts did.

    The click that typer vendors takes one value per flag, so `--tracks 60 120` is rewritten to
    `--tracks 60 --tracks 120` before parsing; as with argparse, a repeated `--tracks a b --tracks c` keeps the
    last group only. The documented command lines keep working unchanged.
    """

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        """Expand `--opt a b c` of the multiple-value options, then parse as click does."""
        variadic = {name: p.name for p in self.params if isinstance(p, TyperOption) and p.multiple for name in p.opts}
        head: list[str] = []
        tail: list[str] = []
        groups: dict[str | None, tuple[str, list[str]]] = {}  # param name -> (flag used, its values)
        current: str | None = None  # the param whose values are being read
        for i, token in enumerate(args):
            if token == "--":
                tail = args[i:]
                break
            if _is_option(token) and token in variadic:
                current = variadic[token]
                groups[current] = (token, [])  # argparse's store: the last occurrence wins
            elif _is_option(token):
                current = None
                head.append(token)
            elif current is not None:
                groups[current][1].append(token)
            else:
                head.append(token)
        for flag, values in groups.values():
            head.extend([flag, *values] if not values else [x for v in values for x in (flag, v)])
        return super().parse_args(ctx, head + tail)
