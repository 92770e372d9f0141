"""Same-recording retrieval through the HTTP upload API: does a re-encoded excerpt of a real library recording,
uploaded as a listener would, come back first from `GET /api/uploads/{id}/matches`?

The library is a `museed synth` corpus (the distractors) plus real recordings from Debian packages (`--real`,
files longer than `--min-seconds`), all in the metadata DB (SQLite) and in the window index (Milvus Lite) that
`museed windows` fills (`orchestration.windows.run_windows`: the segment store's dense windows, 10 s every 5 s).
Each query is a `--seconds` excerpt of a real recording at a random offset at least 0.25 s off every window start
(`benchmarks.retrieval.excerpt_mp3`), downmixed to mono, resampled to `--query-rate` (half the original's rate
where the original is not above it) and encoded as constant-bitrate MP3 (LAME through libsndfile; the bitrate is
measured from the bytes). It is posted to `POST /api/uploads` of the real FastAPI app (lifespan, auth, the upload
encoder) through an in-process HTTP client, then `GET /api/uploads/{id}/matches?limit=10` ranks library tracks;
the figure is the share whose original comes first.
Per encoder (`--encoder auto small:0`); the window index is resumable in `--work`.

    python -m benchmarks.upload_matches --fma /tmp/issue16/fma2000 --work /tmp/issue16/matches \\
        --encoder auto small:0 --out docs/benchmarks/upload-matches-2000.json
"""

from __future__ import annotations

import glob
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from benchmarks.common import Command, Machine, write_json
from benchmarks.retrieval import excerpt_mp3

app = typer.Typer(add_completion=False)

#: the real recordings this benchmark knows: Debian package -> (file glob, licence per its copyright file)
REAL_SOURCES: dict[str, tuple[str, str]] = {
    "wesnoth-1.16-music": ("/usr/share/games/wesnoth/1.16/data/core/music/*.ogg", "GPL-2+"),
    "colobot-common-sounds": ("/usr/share/games/colobot/music/*.ogg", "GPL-3+"),
    "drascula-music": ("/usr/share/scummvm/drascula/audio/*.ogg", "Drascula-License (BSD-like, DFSG-free)"),
    "asc-music": ("/usr/share/games/asc/music/*.mp3", "GPL-2+"),
}
#: track and artist ids of the real recordings (far above the synthetic corpus' ids)
REAL_ID_BASE = 9_000_000
#: matches asked for per query (a miss past these counts as rank limit + 1)
MATCH_LIMIT = 10


@dataclass(frozen=True)
class RealTrack:
    """A real recording put in the library."""

    track_id: int
    path: str
    package: str
    licence: str
    seconds: float
    sample_rate: int


def real_tracks(packages: list[str], min_seconds: float) -> list[RealTrack]:
    """The installed files of `packages` (REAL_SOURCES) longer than `min_seconds`, in a stable order."""
    import soundfile as sf

    found: list[RealTrack] = []
    for package in packages:
        if package not in REAL_SOURCES:
            raise typer.BadParameter(f"unknown package {package!r}; known: {sorted(REAL_SOURCES)}")
        pattern, licence = REAL_SOURCES[package]
        files = sorted(glob.glob(pattern))
        if not files:
            raise typer.BadParameter(f"no files at {pattern}: `apt-get install {package}` first")
        for path in files:
            info = sf.info(path)
            if info.duration > min_seconds:
                track_id = REAL_ID_BASE + len(found)
                found.append(RealTrack(track_id, path, package, licence, float(info.duration), int(info.samplerate)))
    return found


def load_library(settings: Any, fma: Path, real: list[RealTrack]) -> list[Any]:
    """Put the synthetic catalog and the real recordings in the metadata DB (idempotent); the tracks to index."""
    from api.db.load import load_catalog_into_db
    from api.db.migrate import upgrade
    from api.db.models import Artist, Track, track_search_text
    from api.db.session import session_factory, transaction
    from embedding.job import TrackAudio, catalog_tracks
    from museed.catalog import load_catalog

    catalog = load_catalog(fma, scan_unlisted=False)
    upgrade(settings.sqlalchemy_url)
    with transaction(session_factory(settings.sqlalchemy_url)) as s:
        load_catalog_into_db(s, catalog)
        artists = {p: REAL_ID_BASE + i for i, p in enumerate(sorted({r.package for r in real}))}
        for package, artist_id in artists.items():
            s.merge(Artist(artist_id=artist_id, name=f"Debian package {package}"))
        s.flush()
        for r in real:
            title = Path(r.path).stem
            s.merge(
                Track(
                    track_id=r.track_id,
                    title=title,
                    artist_id=artists[r.package],
                    genres=[],
                    genres_all=[],
                    duration_seconds=r.seconds,
                    license=r.licence,
                    audio_path=r.path,
                    search_text=track_search_text(title, f"Debian package {r.package}", None),
                )
            )
    return [*catalog_tracks(catalog), *(TrackAudio(r.track_id, r.path) for r in real)]


def query_upload(client: Any, data: bytes) -> tuple[dict[str, Any], float, float]:
    """(matches body, upload seconds, matches seconds) of one excerpt through the HTTP API."""
    t0 = time.perf_counter()
    made = client.post("/api/uploads", files={"file": ("excerpt.mp3", data, "audio/mpeg")})
    t1 = time.perf_counter()
    if made.status_code != 201:
        raise RuntimeError(f"upload refused: {made.status_code} {made.text}")
    found = client.get(f"/api/uploads/{made.json()['id']}/matches", params={"limit": MATCH_LIMIT})
    t2 = time.perf_counter()
    if found.status_code != 200:
        raise RuntimeError(f"matches refused: {found.status_code} {found.text}")
    body: dict[str, Any] = found.json()
    return body, t1 - t0, t2 - t1


def _named(track: dict[str, Any]) -> str:
    """A matched track as `id title (artist)`, for the misses table."""
    return f"{track['track_id']} {track['title']} ({track['artist']})"


def run_encoder(
    spec: str,
    settings: Any,
    tracks: list[Any],
    real: list[RealTrack],
    queries: list[int],
    seconds: float,
    rate: int,
    level: float,
    seed: int,
) -> dict[str, Any]:
    """Fill the window index for one encoder, then send every query through the HTTP API; the figures."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from embedding.encoders import load_encoder
    from orchestration.windows import run_windows

    encoder = load_encoder(spec, settings=settings, device="cpu")
    print(f"[{time.strftime('%H:%M:%S')}] {encoder.encoder_id}: filling the window index", flush=True)

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"[{time.strftime('%H:%M:%S')}] windows {done}/{total}", flush=True)

    fill = run_windows(settings, tracks=tracks, encoder=encoder, progress=progress)
    for line in fill.summary_lines():
        print(line, flush=True)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    app_ = create_app(settings=settings, encoder=encoder)
    with TestClient(app_, base_url="http://museed.bench") as client:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
        creds = {"email": email, "password": "a long enough password"}
        assert client.post("/api/auth/signup", json={**creds, "display_name": "bench"}).status_code == 201
        token = client.post("/api/auth/login", json=creds).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        for n, q in enumerate(queries, start=1):
            r = real[q]
            query_rate = rate if rate < r.sample_rate else r.sample_rate // 2  # always below the original's
            data, offset = excerpt_mp3(r.path, seconds, rng, query_rate, level, fill.hop_seconds)
            body, upload_s, match_s = query_upload(client, data)
            ids = [m["track"]["track_id"] for m in body["matches"]]
            rank = ids.index(r.track_id) + 1 if r.track_id in ids else MATCH_LIMIT + 1
            hit = body["matches"][rank - 1] if rank <= MATCH_LIMIT else None
            where = None
            if hit is not None:  # does the best window pair lie where the excerpt was taken from?
                best = hit["best"]
                where = bool(best["track_start"] < offset + seconds and best["track_end"] > offset)
            rows.append(
                {
                    "file": r.path,
                    "package": r.package,
                    "offset_s": round(offset, 2),
                    "query_rate": query_rate,
                    "kbps": round(8 * len(data) / seconds / 1000, 1),
                    "rank": rank,
                    "similarity": hit["similarity"] if hit else None,
                    "top_similarity": body["matches"][0]["similarity"] if body["matches"] else None,
                    "top_track": _named(body["matches"][0]["track"]) if body["matches"] else None,
                    "where_right": where,
                    "upload_seconds": round(upload_s, 3),
                    "matches_seconds": round(match_s, 3),
                }
            )
            if n % 10 == 0:
                top1 = np.mean([x["rank"] == 1 for x in rows])
                print(f"[{time.strftime('%H:%M:%S')}] {n}/{len(queries)} queries, top-1 so far {top1:.3f}", flush=True)
    ranks = np.array([x["rank"] for x in rows])
    located = [x["where_right"] for x in rows if x["rank"] == 1]
    return {
        "encoder_id": encoder.encoder_id,
        "encoder_spec": spec,
        "queries": len(rows),
        "top1": float((ranks == 1).mean()),
        "top10": float((ranks <= MATCH_LIMIT).mean()),
        "median_rank": float(np.median(ranks)),
        "top1_where_right": float(np.mean(located)) if located else None,
        "misses": [x for x in rows if x["rank"] != 1],
        "upload_seconds_median": float(np.median([x["upload_seconds"] for x in rows])),
        "matches_seconds_median": float(np.median([x["matches_seconds"] for x in rows])),
        "mp3_kbps_mean": round(float(np.mean([x["kbps"] for x in rows])), 1),
        "window_fill": asdict(fill),
        "rows": rows,
    }


@app.command(cls=Command, help=__doc__)
def main(
    fma: Annotated[Path, typer.Option("--fma", help="the synthetic corpus (the distractors)")],
    work: Annotated[Path, typer.Option("--work", help="data dir: DB, Milvus Lite file, segment store (resumable)")],
    encoders: Annotated[list[str] | None, typer.Option("--encoder", help="encoder specs")] = None,
    packages: Annotated[list[str] | None, typer.Option("--real", help="Debian packages of real recordings")] = None,
    min_seconds: Annotated[float, typer.Option("--min-seconds", help="real files at least this long")] = 20.0,
    n_queries: Annotated[int, typer.Option("--queries", help="real recordings queried (at most all)")] = 1000,
    seconds: Annotated[float, typer.Option("--seconds", help="excerpt length")] = 10.0,
    rate: Annotated[
        int, typer.Option("--query-rate", help="excerpt sample rate (half the original's where that is lower)")
    ] = 22_050,
    level: Annotated[float, typer.Option("--mp3-level", help="libsndfile compression level 0..1")] = 0.5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[int, typer.Option("--threads")] = 2,
    out: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """Build the library and its window index, send the excerpts through the upload API, print the top-1 rates."""
    from museed.settings import Settings

    torch.set_num_threads(threads)
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=work,
        database_url=f"sqlite:///{work / 'museed.sqlite'}",
        milvus_uri=str(work / "milvus.db"),
        max_upload_bytes=8 * 1024 * 1024,
    )
    real = real_tracks(packages or sorted(REAL_SOURCES), min_seconds)
    tracks = load_library(settings, fma, real)
    rng = np.random.default_rng(seed)
    queries = sorted(rng.choice(len(real), min(n_queries, len(real)), replace=False).tolist())
    print(f"library {len(tracks)} tracks ({len(real)} real), {len(queries)} queries", flush=True)
    results = [
        run_encoder(spec, settings, tracks, real, queries, seconds, rate, level, seed)
        for spec in encoders or ["auto", "small:0"]
    ]
    used = sorted({r.package for r in real})
    record = {
        "fma": str(fma),
        "library_tracks": len(tracks),
        "real_tracks": len(real),
        "real_sources": {p: {"glob": REAL_SOURCES[p][0], "licence": REAL_SOURCES[p][1]} for p in used},
        "real_by_package": {p: sum(r.package == p for r in real) for p in used},
        "excerpt_seconds": seconds,
        "query_rate": rate,
        "query_rate_rule": "--query-rate, or half the original's rate where the original is not above it",
        "codec": "MP3 (LAME via libsndfile), constant bitrate, mono",
        "route": "POST /api/uploads, then GET /api/uploads/{id}/matches?limit=10",
        "seed": seed,
        "machine_load_1min": round(Machine.now().load[0], 2),
        "encoders": results,
    }
    for res in results:
        print(
            f"{res['encoder_id']}: top-1 {res['top1']:.3f}, top-10 {res['top10']:.3f} over {res['queries']} real "
            f"excerpts (MP3 ~{res['mp3_kbps_mean']} kbit/s, {rate} Hz mono), library {len(tracks)}"
        )
    if out is not None:
        write_json(out, record)


if __name__ == "__main__":
    app()
