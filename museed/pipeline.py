"""Pipeline stages as plain functions with typed inputs and outputs; the CLI, the demo and tests call these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from museed.catalog import Catalog, load_catalog
from museed.settings import Settings

Progress = Callable[[int, int], None] | None


def catalog_tracks(catalog: Catalog, limit: int | None = None) -> list[Any]:
    """Every listed track as a `TrackAudio` (missing audio included: the job records it as a failure)."""
    from embedding.job import TrackAudio

    items = [
        TrackAudio(track_id=int(tid), path=path if isinstance(path, str) else None)
        for tid, path in zip(catalog.tracks.index, catalog.tracks["audio_path"], strict=True)
    ]
    return items[:limit] if limit else items


def run_embed(
    fma: Path,
    out: Path,
    settings: Settings,
    encoder_spec: str = "auto",
    limit: int | None = None,
    progress: Progress = None,
) -> Any:
    """Embed the catalog's tracks into the vector set at `out` (resumes a partial one)."""
    from embedding.encoders import load_encoder
    from embedding.job import SegmentPolicy, embed_plain

    catalog = load_catalog(fma)
    encoder = load_encoder(encoder_spec, settings=settings)
    policy = SegmentPolicy(
        sample_rate=encoder.sample_rate,
        segment_seconds=settings.segment_seconds,
        n_segments=settings.segments_per_track,
    )
    return embed_plain(catalog_tracks(catalog, limit), encoder, out, policy=policy, progress=progress)


@dataclass
class IndexReport:
    """What `museed index` built."""

    collection: str
    alias: str
    rows: int
    index_type: str
    nlist: int
    nprobe: int
    engine: str
    vector_set_id: str
    encoder_id: str


def track_metadata(catalog: Catalog) -> dict[int, dict[str, Any]]:
    """Scalar fields stored next to each vector (filters and per-artist caps)."""
    t = catalog.tracks
    return {
        int(tid): {"genre_top": g if isinstance(g, str) else None, "artist_id": int(a)}
        for tid, g, a in zip(t.index, t["genre_top"], t["artist_id"], strict=True)
    }


def run_index(vectors: Path, fma: Path, settings: Settings, progress: Progress = None) -> IndexReport:
    """Load a vector set into a new Milvus collection and point the serving alias at it."""
    from embedding.store import load_vector_set
    from indexing.milvus_index import TrackIndex

    vs = load_vector_set(vectors)
    catalog = load_catalog(fma, scan_unlisted=False)
    if settings.milvus_is_lite:
        Path(settings.milvus_target).parent.mkdir(parents=True, exist_ok=True)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    index = TrackIndex(settings.milvus_target, alias=settings.milvus_alias, token=token)
    try:
        name = index.build(vs, track_metadata(catalog), progress=progress)
        plan = index.current_plan()
        return IndexReport(
            collection=name,
            alias=settings.milvus_alias,
            rows=index.count(),
            index_type=plan.index_type,
            nlist=plan.nlist,
            nprobe=plan.nprobe,
            engine="milvus-lite" if index.is_lite else "milvus-server",
            vector_set_id=vs.manifest.vector_set_id,
            encoder_id=vs.manifest.encoder_id,
        )
    finally:
        index.close()


def run_db_upgrade(settings: Settings) -> str:
    """Migrate the metadata DB to the latest revision; returns the URL (without credentials)."""
    from api.db.migrate import upgrade

    upgrade(settings.sqlalchemy_url)
    return settings.sqlalchemy_url.split("@")[-1]


def run_db_load(fma: Path, settings: Settings, progress: Progress = None) -> tuple[Any, Catalog]:
    """Upsert the FMA catalog into the metadata DB (migrating it first)."""
    from api.db.load import load_catalog_into_db
    from api.db.session import session_factory, transaction

    run_db_upgrade(settings)
    catalog = load_catalog(fma)
    with transaction(session_factory(settings.sqlalchemy_url)) as session:
        report = load_catalog_into_db(session, catalog, progress=progress)
    return report, catalog
