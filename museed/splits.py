"""The per-track table of split, genre and tags, with artist-disjoint splits: one rule for training and evaluation.

`museed triplets` draws its triplets inside these splits and `museed evaluate` calls every track outside the
training split "held out", so both read them from here.

Splits are by artist: FMA's `set/split` when every track has one (an artist listed in several splits is put
in its most common one), otherwise a deterministic hash of the artist id (80/10/10). No artist is on two sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from museed.errors import PipelineError
from museed.tags import TrackTags
from museed.vocab import AXES_BY_IMPORTANCE

SPLITS: Final[tuple[str, ...]] = ("training", "validation", "test")


class TrackTableError(PipelineError):
    """A catalog and tags file from which no per-track table can be built (no tagged track, no genre)."""


def artist_hash_split(artist_ids: Sequence[int] | pd.Series) -> pd.Series:
    """Deterministic 80/10/10 split by a hash of the artist id (same artist, same split, on any machine)."""
    ids = pd.Series(artist_ids)

    def bucket(a: Any) -> str:
        h = int(hashlib.sha1(str(int(a)).encode()).hexdigest()[:8], 16) % 100
        return "training" if h < 80 else ("validation" if h < 90 else "test")

    return ids.map(bucket).astype(object)


def track_table(tracks: pd.DataFrame, tags: Mapping[int, TrackTags]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Join catalog tracks (index track_id; artist_id, split, genre_top) with tags into one row per usable track.

    The genre is the tags' genre, else the catalog's `genre_top`; tracks without tags or genre are dropped
    (counted). Returns the table (track_id, artist_id, split, genre, valence, mood_style, energy, source) and
    split facts for the stats. Raises TrackTableError when no usable track is left.
    """
    ids = [int(t) for t in tracks.index if int(t) in tags]
    facts: dict[str, Any] = {"tracks_without_tags": int(len(tracks) - len(ids))}
    if not ids:
        raise TrackTableError("no catalog track has tags: check that the tags file belongs to this catalog")
    sub = tracks.loc[ids]
    catalog_genre = sub["genre_top"] if "genre_top" in sub else pd.Series([None] * len(ids), index=sub.index)
    rows = {
        "track_id": np.asarray(ids, dtype=np.int64),
        "artist_id": sub["artist_id"].to_numpy(dtype=np.int64),
        "fma_split": sub["split"].to_numpy(dtype=object) if "split" in sub else np.full(len(ids), None),
        "genre": [tags[t].genre or g for t, g in zip(ids, catalog_genre, strict=True)],
        # the tagged axes in triplet mining's order of importance (valence, mood_style, energy, source)
        **{a.name: [tags[t].label(a) for t in ids] for a in AXES_BY_IMPORTANCE if a.labels},
    }
    table = pd.DataFrame(rows)
    table["genre"] = table["genre"].where(table["genre"].map(lambda g: isinstance(g, str) and g != ""), None)
    facts["tracks_without_genre"] = int(table["genre"].isna().sum())
    table = table[table["genre"].notna()].reset_index(drop=True)
    if table.empty:
        raise TrackTableError("no tagged track has a genre")
    fma_ok = table["fma_split"].isin(SPLITS).all()
    if fma_ok:
        # an artist FMA lists in several splits goes to its most common one, so the sides stay disjoint
        majority = table.groupby("artist_id")["fma_split"].agg(lambda s: s.value_counts().index[0])
        table["split"] = table["artist_id"].map(majority)
        moved = table.groupby("artist_id")["fma_split"].nunique()
        facts["artists_moved"] = int((moved > 1).sum())
        facts["split_source"] = "fma"
    else:
        table["split"] = artist_hash_split(table["artist_id"]).to_numpy()
        facts["artists_moved"] = 0
        facts["split_source"] = "artist-hash"
    return table.drop(columns=["fma_split"]), facts


def split_of(table: pd.DataFrame) -> dict[int, str]:
    """track_id -> split of a `track_table`."""
    return dict(zip(table["track_id"].tolist(), table["split"].tolist(), strict=True))
