"""Triplet construction: the anchor-genre law, the five level rules, positives, artist-disjoint splits, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from museed.splits import track_table
from museed.tags import TrackTags
from museed.vocab import ENERGY, MOOD_STYLES, SOURCE, VALENCE
from training.triplets import (
    FEATURES,
    LEVELS,
    TripletError,
    build_triplets,
    curriculum_mixes,
    parse_mix,
    write_triplets,
)

GENRE_SIZES = {"Rock": 1200, "Electronic": 600, "Folk": 250, "Jazz": 90, "Blues": 40, "Spoken": 12}


def _catalog_and_tags(
    seed: int = 0, sizes: dict[str, int] = GENRE_SIZES, with_split: bool = False
) -> tuple[pd.DataFrame, dict[int, TrackTags]]:
    rng = np.random.default_rng(seed)
    genres = np.concatenate([[g] * n for g, n in sizes.items()])
    n = len(genres)
    ids = np.arange(2, n + 2)
    artists = rng.integers(0, n // 6, n) + np.array([hash(g) % 7 for g in genres]) * 100_000
    split = None
    if with_split:
        split = pd.Series(artists).map(lambda a: ["training", "validation", "test"][a % 3]).to_numpy()
    tracks = pd.DataFrame({"artist_id": artists, "split": split, "genre_top": genres}, index=ids)
    tags = {
        int(t): TrackTags(
            track_id=int(t),
            tagger="test",
            genre=str(g),
            source=str(rng.choice(SOURCE)),
            valence=str(rng.choice(VALENCE)),
            energy=str(rng.choice(ENERGY)),
            mood_style=str(rng.choice(MOOD_STYLES)),
        )
        for t, g in zip(ids, genres, strict=True)
    }
    return tracks, tags


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, dict]:
    tracks, tags = _catalog_and_tags()
    return track_table(tracks, tags)


@pytest.fixture(scope="module")
def big_draw(table: tuple[pd.DataFrame, dict]) -> tuple[pd.DataFrame, object]:
    tab, facts = table
    return build_triplets(tab, 200_000, seed=1, split_facts=facts)


def test_anchor_genre_frequencies_follow_inverse_size_law(table, big_draw) -> None:
    tab, _ = table
    triplets, stats = big_draw
    for split in ("training", "validation", "test"):
        counts = tab[tab["split"] == split]["genre"].value_counts()
        counts = counts[counts >= 2]
        law = (1 / counts) / (1 / counts).sum()
        drawn = triplets[triplets["split"] == split]["anchor_genre"]
        freq = drawn.value_counts(normalize=True).reindex(law.index, fill_value=0.0)
        # 4 binomial standard deviations, plus a floor for the rounding of tiny probabilities
        tolerance = 4 * np.sqrt(law * (1 - law) / len(drawn)) + 1e-3
        assert (abs(freq - law) <= tolerance).all(), (split, pd.DataFrame({"law": law, "drawn": freq}))
        assert stats.target_genre_p[split] == pytest.approx(law.to_dict())
        assert stats.realised_genre_p[split] == pytest.approx(freq.to_dict())
    # the rarest genre is drawn far more often than its share of tracks
    train = triplets[triplets["split"] == "training"]["anchor_genre"].value_counts(normalize=True)
    share = tab[tab["split"] == "training"]["genre"].value_counts(normalize=True)
    assert train["Spoken"] > 5 * share["Spoken"]


def test_every_negative_obeys_its_level_rule(table, big_draw) -> None:
    tab, _ = table
    triplets, _ = big_draw
    feats = tab.set_index("track_id")[list(FEATURES)]
    a = feats.loc[triplets["anchor"]].to_numpy()
    n = feats.loc[triplets["negative"]].to_numpy()
    same = a == n  # (T, 5) in importance order genre, valence, mood_style, energy, source
    level = triplets["level"].to_numpy()
    for k in LEVELS:
        rows = level == k
        assert rows.any(), f"level {k} never drawn"
        differs_at = 4 - k
        assert not same[rows, differs_at].any(), f"level {k} negative equals the anchor at {FEATURES[differs_at]}"
        assert same[rows, :differs_at].all(), f"level {k} negative differs at a more important feature"
    assert (triplets["anchor"] != triplets["negative"]).all()


def test_positive_shares_tags_in_the_documented_order(table, big_draw) -> None:
    tab, _ = table
    triplets, stats = big_draw
    feats = tab.set_index("track_id")[list(FEATURES)]
    a = feats.loc[triplets["anchor"]].to_numpy()
    p = feats.loc[triplets["positive"]].to_numpy()
    n = feats.loc[triplets["negative"]].to_numpy()
    assert (triplets["anchor"] != triplets["positive"]).all()
    assert (triplets["positive"] != triplets["negative"]).all()
    assert (a[:, 0] == p[:, 0]).all(), "positives share the genre"
    match = triplets["positive_match"].to_numpy()
    for m in range(5):  # the positive shares the first m tags after genre (valence, mood_style, energy, source)
        rows = match == m
        assert (a[rows, : 1 + m] == p[rows, : 1 + m]).all()
    # a dense genre (Rock in training: ~20 tracks per tag combination) almost always has a full match
    dense = ((triplets["anchor_genre"] == "Rock") & (triplets["split"] == "training")).to_numpy()
    assert (match[dense] == 4).mean() > 0.99
    # the positive is never less similar than the negative: it shares the feature the negative differs at
    differs_at = 4 - triplets["level"].to_numpy()
    assert (a[np.arange(len(a)), differs_at] == p[np.arange(len(p)), differs_at]).all()
    assert (a[np.arange(len(a)), differs_at] != n[np.arange(len(n)), differs_at]).all()
    assert stats.positive_same_artist < 0.05 * len(triplets)


def test_splits_are_artist_disjoint_hash_and_fma() -> None:
    for with_split in (False, True):
        tracks, tags = _catalog_and_tags(seed=3, with_split=with_split)
        if with_split:  # one artist listed in two splits by the catalog is moved to its majority split
            artist = tracks["artist_id"].iloc[0]
            rows = tracks.index[tracks["artist_id"] == artist]
            tracks.loc[rows[:1], "split"] = "test" if tracks.loc[rows[0], "split"] != "test" else "training"
        tab, facts = track_table(tracks, tags)
        assert facts["split_source"] == ("fma" if with_split else "artist-hash")
        assert tab.groupby("artist_id")["split"].nunique().max() == 1
        triplets, _ = build_triplets(tab, 5_000, seed=0, split_facts=facts)
        split_of = tab.set_index("track_id")["split"]
        for col in ("anchor", "positive", "negative"):
            assert (split_of.loc[triplets[col]].to_numpy() == triplets["split"].to_numpy()).all()
        share = tab["split"].value_counts(normalize=True)
        assert set(share.index) == {"training", "validation", "test"}
        if with_split:
            assert facts["artists_moved"] >= 1


def test_fallbacks_walk_to_the_next_easier_level_and_are_counted() -> None:
    tracks, tags = _catalog_and_tags(seed=5, sizes={"Rock": 300, "Jazz": 300})
    # every Jazz track is acoustic and high-energy: levels 0 and 1 are impossible for Jazz anchors
    for t, tag in list(tags.items()):
        if tag.genre == "Jazz":
            tags[t] = TrackTags(t, "test", "Jazz", "acoustic", tag.valence, "high", tag.mood_style)
    tab, facts = track_table(tracks, tags)
    triplets, stats = build_triplets(tab, 4_000, mix={0: 1.0}, seed=0, split_facts=facts)
    jazz = triplets["anchor_genre"] == "Jazz"
    assert (triplets.loc[jazz, "requested_level"] == 0).all()
    assert (triplets.loc[jazz, "level"] >= 2).all()
    # 0 -> 1 -> 2: mood-hard is the first level with candidates (when the positive shares the mood style)
    full = jazz & (triplets["positive_match"] >= 2)
    assert full.sum() > 0.9 * jazz.sum() and (triplets.loc[full, "level"] == 2).all()
    fallen = triplets["level"] != triplets["requested_level"]
    assert sum(stats.fallbacks.values()) == int(fallen.sum()) >= int(jazz.sum())
    assert stats.fallbacks.get("0->2", 0) >= int(jazz.sum())
    assert stats.requested_per_level[0] == len(triplets)
    assert sum(stats.realised_per_level.values()) == len(triplets)


def test_one_genre_split_cannot_give_easy_negatives() -> None:
    tracks, tags = _catalog_and_tags(seed=2, sizes={"Rock": 200})
    tab, facts = track_table(tracks, tags)
    with pytest.raises(TripletError, match="single genre"):
        build_triplets(tab, 100, mix={4: 1.0}, split_facts=facts)


def test_mix_and_curriculum(table) -> None:
    tab, facts = table
    assert parse_mix("0:1,4:3") == {0: 0.25, 1: 0.0, 2: 0.0, 3: 0.0, 4: 0.75}
    for bad in ("5:1", "0:-1", "x", "0:0"):
        with pytest.raises(TripletError):
            parse_mix(bad)
    target = {0: 0.5, 1: 0.5, 2: 0.0, 3: 0.0, 4: 0.0}
    mixes = curriculum_mixes(target, 4)
    assert mixes[0] == {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0, 4: 1.0}
    assert mixes[-1] == pytest.approx(target)
    assert [m[4] for m in mixes] == sorted((m[4] for m in mixes), reverse=True)  # easy share shrinks
    triplets, stats = build_triplets(tab, 40_000, mix=target, curriculum_epochs=4, seed=0, split_facts=facts)
    assert stats.curriculum_epochs == 4
    assert sorted(triplets["epoch"].unique()) == [0, 1, 2, 3]
    first = triplets[triplets["epoch"] == 0]
    assert (first["requested_level"] == 4).all()
    last = triplets[triplets["epoch"] == 3]["requested_level"].value_counts(normalize=True)
    assert last.get(0, 0) == pytest.approx(0.5, abs=0.03) and last.get(4, 0) == 0


def test_written_file_and_stats(tmp_path: Path, table) -> None:
    tab, facts = table
    triplets, stats = build_triplets(tab, 1_000, seed=0, split_facts=facts)
    stats_path = write_triplets(tmp_path / "t.parquet", triplets, stats)
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert {"anchor", "positive", "negative", "level", "requested_level", "split", "anchor_genre"} <= set(back)
    assert len(back) == 1_000
    import json

    data = json.loads(stats_path.read_text())
    assert data["n_triplets"] == 1_000 and set(data["realised_per_level"]) == {"0", "1", "2", "3", "4"}
