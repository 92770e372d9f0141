"""The per-track table and its artist-disjoint splits (shared by `museed triplets` and `museed evaluate`)."""

from __future__ import annotations

import pandas as pd
import pytest

from museed.errors import PipelineError
from museed.splits import SPLITS, TrackTableError, artist_hash_split, split_of, track_table
from museed.tags import TrackTags


def _tags(ids: list[int], genre: str | None = "Rock") -> dict[int, TrackTags]:
    return {t: TrackTags(t, "test", genre, "acoustic", "positive", "high", "dreamy") for t in ids}


def test_artist_hash_split_is_deterministic_and_covers_the_splits() -> None:
    artists = list(range(2000))
    first, again = artist_hash_split(artists), artist_hash_split(artists)
    assert first.tolist() == again.tolist() and set(first) == set(SPLITS)
    share = first.value_counts(normalize=True)
    assert share["training"] == pytest.approx(0.8, abs=0.03)


def test_track_table_keeps_artists_on_one_side_and_reports_the_source() -> None:
    tracks = pd.DataFrame(
        {"artist_id": [1, 1, 2, 3], "genre_top": ["Rock", "Pop", "Pop", None]}, index=[10, 11, 12, 13]
    )
    table, facts = track_table(tracks, _tags([10, 11, 12], genre=None))
    assert facts == {
        "tracks_without_tags": 1,
        "tracks_without_genre": 0,
        "artists_moved": 0,
        "split_source": "artist-hash",
    }
    assert table["genre"].tolist() == ["Rock", "Pop", "Pop"]  # the catalog's genre when the tags have none
    split = split_of(table)
    assert split[10] == split[11] and set(split) == {10, 11, 12}


def test_track_table_errors_are_pipeline_errors() -> None:
    tracks = pd.DataFrame({"artist_id": [1], "genre_top": [None]}, index=[10])
    with pytest.raises(TrackTableError, match="no catalog track has tags"):
        track_table(tracks, {})
    with pytest.raises(PipelineError, match="no tagged track has a genre"):
        track_table(tracks, _tags([10], genre=None))
