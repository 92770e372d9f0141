"""`museed loadtest-library`: a library at catalog scale (90,000 tracks) that the service runs on, without audio.

The same tracks go to the metadata DB and to Milvus: the synthetic corpus' catalog (artists, albums, genres, titles,
ground-truth tags) is written as FMA CSVs and loaded by the catalog load (`run_db_load`, `api/db/load.py`); each
track gets a clustered unit vector of the served encoder's dimension (genre centre + artist offset + track noise, the
index benchmarks' generator) in a vector set with the served encoder's manifest, so uploads keep working; and
`run_index` builds the served plan (tuned IVF-PQ + the compact re-rank store) from that vector set and the tags.
Rendering and embedding 90,000 clips would take days on 2 cores; the vectors are synthetic, the rest is the product.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import numpy as np
import typer

from museed.errors import PipelineError

#: vectors per Parquet shard of the vector set
SHARD_TRACKS = 10_000
_MARKER = "scale_library.json"


class ScaleLibraryError(PipelineError):
    """The catalog-scale library could not be built (a bad size, an encoder that would not load)."""


@dataclass
class ClusteredVectors:
    """Hierarchical clustered unit vectors: genre centres, one centre per artist near its genre's, and tracks near
    their artist's centre (the structure real music embeddings show: genre > artist > track)."""

    genre_centres: np.ndarray  # (genres, dim)
    artist_genre: np.ndarray  # (artists,) genre index of each artist
    artist_centres: np.ndarray  # (artists, dim)

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        dim: int,
        n_genres: int,
        n_artists: int,
        p_genre: np.ndarray | None = None,
        artist_genre: np.ndarray | None = None,
    ) -> ClusteredVectors:
        """Genre centres, then each artist's genre (drawn with `p_genre` unless `artist_genre` is given), then
        the artists' centres, in that order from `rng`."""
        genre_centres = rng.normal(size=(n_genres, dim)) / np.sqrt(dim)
        if artist_genre is None:
            artist_genre = rng.choice(n_genres, size=n_artists, p=p_genre)
        artist_centres = genre_centres[artist_genre] + 0.6 * rng.normal(size=(n_artists, dim)) / np.sqrt(dim)
        return cls(genre_centres, artist_genre, artist_centres)

    def tracks(self, artist: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One L2-normalised float32 vector per entry of `artist` (artist indices)."""
        dim = self.artist_centres.shape[1]
        x = self.artist_centres[artist] + 0.35 * rng.normal(size=(len(artist), dim)) / np.sqrt(dim)
        normalised: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        return normalised


@dataclass(frozen=True)
class ScaleLibrarySpec:
    """What the library holds and where it goes (the embedded defaults under the data dir unless URLs are given)."""

    tracks: int = 90_000
    seed: int = 0
    encoder: str = "small"
    #: the listed clip length of every track (FMA clips are 30 s)
    seconds: float = 30.0
    segment_seconds: float = 2.0
    segments_per_track: int = 2
    database_url: str | None = None
    milvus_uri: str | None = None
    milvus_alias: str = "tracks"


@dataclass
class ScaleLibraryReport:
    """What was built, and how long each step took (seconds)."""

    tracks: int
    dim: int
    collection: str
    index_type: str
    database: str
    milvus: str
    seconds: dict[str, float] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """One line per step and the total, for the CLI."""
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        return [
            f"{self.tracks} tracks (dim {self.dim}) in {self.database} and {self.collection} ({self.index_type}) "
            f"on {self.milvus}",
            f"{steps}; total {sum(self.seconds.values()):.0f} s",
        ]


class LibraryPlace(Protocol):
    """Where a load-test library lives and what serves it (both library specs have these)."""

    @property
    def encoder(self) -> str: ...
    @property
    def segment_seconds(self) -> float: ...
    @property
    def segments_per_track(self) -> int: ...
    @property
    def database_url(self) -> str | None: ...
    @property
    def milvus_uri(self) -> str | None: ...
    @property
    def milvus_alias(self) -> str: ...


def library_settings(data_dir: Path, spec: LibraryPlace) -> Any:
    """The settings of a load-test library under `data_dir` (every path explicit: no stray MUSEED_* applies)."""
    from museed.settings import Settings

    data_dir = data_dir.resolve()
    return Settings(
        environment="local",
        data_dir=data_dir,
        database_url=spec.database_url or f"sqlite:///{(data_dir / 'museed.sqlite').as_posix()}",
        milvus_uri=spec.milvus_uri or str(data_dir / "museed.db"),
        milvus_alias=spec.milvus_alias,
        redis_url=None,
        encoder=spec.encoder,
        segment_seconds=spec.segment_seconds,
        segments_per_track=spec.segments_per_track,
    )


def hashed_url(url: str | None) -> str | None:
    """What a reuse marker records of a database URL: its SHA-256 (it may hold a password)."""
    return hashlib.sha256(url.encode()).hexdigest() if url else url


def write_catalog(fma: Path, plans: list[Any], seconds: float) -> None:
    """The corpus' FMA metadata (tracks.csv, genres.csv) and ground truth, without audio."""
    from synth.metadata import write_genres_csv, write_ground_truth, write_tracks_csv

    meta = fma / "fma_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    write_tracks_csv(meta / "tracks.csv", plans, seconds)
    write_genres_csv(meta / "genres.csv", plans)
    write_ground_truth(fma / "synth_ground_truth.csv", plans)


def write_vectors(out: Path, plans: list[Any], manifest: Any, spec: ScaleLibrarySpec) -> int:
    """A vector set of one clustered vector per planned track, clustered by the plans' own genres and artists."""
    from museed.vectorset import VectorSetWriter

    genres = sorted({p.genre_top for p in plans})
    artist_ids = sorted({p.artist_id for p in plans})
    genre_of = {g: i for i, g in enumerate(genres)}
    artist_row = {a: i for i, a in enumerate(artist_ids)}
    artist_genre = np.zeros(len(artist_ids), dtype=np.int64)
    for p in plans:
        artist_genre[artist_row[p.artist_id]] = genre_of[p.genre_top]
    rng = np.random.default_rng([spec.seed, 0x5CA1E])
    model = ClusteredVectors.draw(rng, manifest.dim, len(genres), len(artist_ids), artist_genre=artist_genre)
    writer = VectorSetWriter(out, manifest)
    for start in range(0, len(plans), SHARD_TRACKS):
        chunk = plans[start : start + SHARD_TRACKS]
        vectors = model.tracks(np.array([artist_row[p.artist_id] for p in chunk]), rng)
        writer.write_shard(
            [p.track_id for p in chunk],
            vectors,
            [spec.segments_per_track] * len(chunk),
            [spec.seconds] * len(chunk),
        )
    writer.finish(tracks=len(plans), failures=0)
    return len(plans)


def build_scale_library(
    data_dir: Path, spec: ScaleLibrarySpec = ScaleLibrarySpec(), log: Callable[[str], None] = print
) -> tuple[Any, ScaleLibraryReport]:
    """Write `spec.tracks` tracks to the metadata DB and the Milvus collection (the same ids in both), with tags
    and vectors of the served encoder's dimension; returns (settings, report). Reuses a library `data_dir` already
    holds for the same spec."""
    from rich.text import Text

    from embedding.encoders import load_encoder
    from embedding.job import manifest_for
    from museed.tags import ground_truth_tags, write_tags
    from orchestration.stages import run_db_load, run_index
    from synth.plan import plan_corpus

    if spec.tracks < 20:
        raise ScaleLibraryError("a library needs at least 20 tracks")
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = library_settings(data_dir, spec)
    fingerprint = _fingerprint(spec)
    marker = data_dir / _MARKER
    if marker.is_file():
        record = json.loads(marker.read_text())
        if record.get("spec") == fingerprint:
            log(f"reusing the {spec.tracks}-track library in {data_dir}")
            return settings, ScaleLibraryReport(**record["report"])
    try:
        encoder = load_encoder(spec.encoder, settings=settings)
    except Exception as exc:  # an unknown spec or missing weights: say which
        raise ScaleLibraryError(f"encoder {spec.encoder!r} would not load: {exc}") from exc
    manifest = manifest_for(encoder)
    fma, vectors, tags_path = data_dir / "fma", data_dir / "vectors", data_dir / "tags.jsonl"
    for stale in (vectors / "shards").glob("*.parquet") if vectors.is_dir() else ():
        stale.unlink()  # a half-built set of an earlier run must not mix into this one
    seconds: dict[str, float] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        log(f"{name} ...")
        started = time.perf_counter()
        result = fn()
        seconds[name] = time.perf_counter() - started
        log(f"{name}: {seconds[name]:.1f} s")
        return result

    log(f"building a {spec.tracks}-track library in {data_dir} (vectors of {manifest.encoder_id}, dim {manifest.dim})")
    plans = step("plan", lambda: plan_corpus(spec.tracks, spec.seed))
    step("catalog files", lambda: write_catalog(fma, plans, spec.seconds))
    step("database", lambda: run_db_load(fma, settings))
    step("tags", lambda: write_tags(tags_path, ground_truth_tags(fma / "synth_ground_truth.csv").values()))
    step("vectors", lambda: write_vectors(vectors, plans, manifest, spec))
    index = step("milvus", lambda: run_index(vectors, fma, settings, tags_path=tags_path, log=log))
    for line in index.summary_lines():
        log(Text.from_markup(line).plain)
    report = ScaleLibraryReport(
        tracks=index.rows,
        dim=manifest.dim,
        collection=index.collection,
        index_type=index.index_type,
        database=settings.sqlalchemy_url.split("@")[-1],
        milvus=index.engine,
        seconds=seconds,
    )
    marker.write_text(json.dumps({"spec": fingerprint, "report": asdict(report)}))
    return settings, report


def _fingerprint(spec: ScaleLibrarySpec) -> dict[str, Any]:
    record = asdict(spec)
    record["database_url"] = hashed_url(spec.database_url)
    return record


def loadtest_library_command(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="where the library (catalog files, vectors) lives")],
    tracks: Annotated[int, typer.Option("--tracks", min=20, help="tracks in the library")] = 90_000,
    encoder: Annotated[str, typer.Option("--encoder", help="the served encoder: the vectors take its dimension")] = (
        "small"
    ),
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="PostgreSQL URL (default: SQLite under --data-dir)")
    ] = None,
    milvus_uri: Annotated[
        str | None, typer.Option("--milvus-uri", help="Milvus server URI (default: Milvus Lite under --data-dir)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Build a catalog-scale library the service runs on: the same tracks in the database and in Milvus, with
    tags and vectors of the served dimension (no audio); then serve it with `museed serve` or `museed loadtest`."""
    spec = ScaleLibrarySpec(tracks=tracks, seed=seed, encoder=encoder, database_url=database_url, milvus_uri=milvus_uri)
    settings, report = build_scale_library(data_dir, spec)
    for line in report.summary_lines():
        typer.echo(line)
    typer.echo(
        f"serve it: MUSEED_DATA_DIR={settings.data_dir} MUSEED_DATABASE_URL=<the URL> "
        f"MUSEED_MILVUS_URI={settings.milvus_target} MUSEED_ENCODER={settings.encoder} museed serve"
    )
