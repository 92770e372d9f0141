"""`museed db load`: upsert the FMA catalog (genres, artists, tracks) into the metadata DB."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from api.db.models import Artist, Genre, Track, track_search_text
from museed.catalog import Catalog

CHUNK = 2000


@dataclass
class LoadReport:
    """Row counts written by a catalog load."""

    genres: int
    artists: int
    tracks: int


def _clean(value: Any) -> Any:
    """pandas NA/NaN -> None, numpy scalars -> Python."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    if hasattr(value, "item") and not isinstance(value, list | tuple | str):
        return value.item()
    return value


def _upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]], key: str) -> None:
    """INSERT .. ON CONFLICT (key) DO UPDATE, on PostgreSQL and SQLite alike."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)  # type: ignore[assignment]
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database dialect {dialect}")
    update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != key}
    session.execute(stmt.on_conflict_do_update(index_elements=[key], set_=update), list(rows))


def _chunks(rows: list[dict[str, Any]], size: int = CHUNK) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def load_catalog_into_db(
    session: Session, catalog: Catalog, progress: Callable[[int, int], None] | None = None
) -> LoadReport:
    """Upsert genres, artists and tracks of `catalog`; idempotent (re-running updates in place)."""
    genres = [
        {
            "genre_id": int(gid),
            "title": str(row.title),
            "parent": int(row.parent),
            "top_level": int(row.top_level),
            "n_tracks": int(_clean(row.n_tracks) or 0),
        }
        for gid, row in catalog.genres.iterrows()
    ]
    _upsert(session, Genre.__table__, genres, "genre_id")  # type: ignore[arg-type]

    t = catalog.tracks
    artists = {
        int(aid): str(_clean(name) or f"artist {aid}")
        for aid, name in zip(t["artist_id"], t["artist_name"], strict=True)
    }
    artist_rows = [{"artist_id": a, "name": n} for a, n in artists.items()]
    for chunk in _chunks(artist_rows):
        _upsert(session, Artist.__table__, chunk, "artist_id")  # type: ignore[arg-type]

    track_rows = []
    for tid, r in zip(t.index, t.itertuples(index=False), strict=True):
        title, album = str(_clean(r.title) or ""), _clean(r.album_title)
        track_rows.append(
            {
                "track_id": int(tid),
                "title": title,
                "artist_id": int(r.artist_id),
                "album_id": _clean(r.album_id),
                "album_title": album,
                "genre_top": _clean(r.genre_top),
                "genre_top_source": str(r.genre_top_source),
                "genres": [int(g) for g in (r.genres or [])],
                "genres_all": [int(g) for g in (r.genres_all or [])],
                "duration_seconds": _clean(r.duration),
                "license": _clean(r.license),
                "split": _clean(r.split),
                "subset": _clean(r.subset),
                "audio_path": _clean(r.audio_path),
                "search_text": track_search_text(title, artists[int(r.artist_id)], album),
            }
        )
    done = 0
    for chunk in _chunks(track_rows):
        _upsert(session, Track.__table__, chunk, "track_id")  # type: ignore[arg-type]
        done += len(chunk)
        if progress:
            progress(done, len(track_rows))
    session.flush()
    return LoadReport(genres=len(genres), artists=len(artist_rows), tracks=len(track_rows))
