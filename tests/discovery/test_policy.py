"""The playlist policy: every rule, exact N, and the explained shortfall."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from discovery.options import DiscoveryOptions
from discovery.policy import RULES, Blocklist, apply_policy, violates_artist_gap
from discovery.titles import normalise_artist, normalise_title, version_key
from discovery.tracks import Candidates, Tracks
from tests.discovery.corpus import clusters, pool


def _pool(n: int = 30, artists: list[int] | None = None, **columns: list[str] | list[int]) -> Candidates:
    vectors = clusters(n, seed=3)
    return pool(vectors, vectors[0], artist_ids=artists or list(range(n)), **columns)  # type: ignore[arg-type]


def test_exactly_n_when_enough_candidates() -> None:
    result = apply_policy(_pool(), 10, DiscoveryOptions())
    assert len(result.rows) == 10 and result.shortfall == 0 and result.explanation() is None
    assert result.scores == sorted(result.scores, reverse=True)


def test_max_per_artist_and_album() -> None:
    candidates = _pool(artists=[i % 3 for i in range(30)], album_ids=[i % 5 for i in range(30)])
    by_artist = apply_policy(candidates, 10, DiscoveryOptions(max_per_artist=2))
    assert len(by_artist.rows) == 6 and by_artist.dropped["max_per_artist"] == 24
    counts = np.bincount(candidates.artist_ids[by_artist.rows])
    assert counts.max() == 2
    by_album = apply_policy(candidates, 10, DiscoveryOptions(max_per_artist=None, max_per_album=1))
    assert len(by_album.rows) == 5 and len(set(candidates.album_ids[by_album.rows])) == 5
    assert by_album.dropped["max_per_album"] == 25


def test_min_artist_gap_defers_then_drops() -> None:
    # two artists alternate only if the rule holds; with a gap of 2 three artists are needed
    artists = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    candidates = _pool(9, artists=artists)
    options = DiscoveryOptions(max_per_artist=None, min_artist_gap=1)
    result = apply_policy(candidates, 9, options)
    picked = candidates.artist_ids[result.rows]
    assert not violates_artist_gap(picked, 1)
    assert len(result.rows) == 9
    tight = apply_policy(_pool(9, artists=[0] * 6 + [1] * 3), 9, options)
    assert not violates_artist_gap(candidates.artist_ids[tight.rows], 1)
    assert tight.dropped["artist_gap"] == 9 - len(tight.rows) > 0
    assert "min_artist_gap" in (tight.explanation() or "")


def test_seeds_exclusions_and_blocklists() -> None:
    candidates = _pool(artists=[i // 2 for i in range(30)])
    ids = [int(t) for t in candidates.track_ids]
    seeds = Tracks.build([ids[0]], candidates.vectors[:1])
    options = DiscoveryOptions(max_per_artist=None, exclude_track_ids=ids[1:3])
    blocked = Blocklist.merged(
        Blocklist(track_ids=frozenset({ids[3]})), Blocklist(artist_ids=frozenset({int(candidates.artist_ids[4])}))
    )
    result = apply_policy(candidates, 30, options, seeds=seeds, blocklist=blocked)
    assert result.dropped["seed"] == 1 and result.dropped["excluded"] == 2 and result.dropped["blocked_track"] == 1
    artist_four = int((candidates.artist_ids == candidates.artist_ids[4]).sum())
    assert result.dropped["blocked_artist"] == artist_four - sum(
        1 for i in (0, 1, 2, 3) if candidates.artist_ids[i] == candidates.artist_ids[4]
    )
    assert not {*ids[:4]} & set(result.track_ids)
    assert result.shortfall == sum(result.dropped.values())


def test_alternate_versions_by_title_and_artist() -> None:
    titles = ["Song", "Song (Live)", "Song - Remastered 2011", "song [Radio Edit]", "Other", "Another Song"]
    artists = ["The Band", "Band", "The Band feat. X", "the band", "The Band", "Someone"]
    candidates = _pool(6, titles=titles, artist_names=artists)
    result = apply_policy(candidates, 6, DiscoveryOptions(max_per_artist=None))
    kept = {candidates.titles[r] for r in result.rows}
    assert result.dropped["alternate_version"] == 3
    assert "Other" in kept and "Another Song" in kept and len(kept & set(titles[:4])) == 1
    off = apply_policy(candidates, 6, DiscoveryOptions(max_per_artist=None, exclude_alternate_versions=False))
    assert len(off.rows) == 6
    # a version of a seed is dropped too
    seed = Tracks.build([1], candidates.vectors[:1], titles=["Song (Acoustic)"], artist_names=["The Band"])
    with_seed = apply_policy(candidates, 6, DiscoveryOptions(max_per_artist=None), seeds=seed)
    assert with_seed.dropped["alternate_version"] == 4


def test_near_duplicates_by_embedding() -> None:
    base = clusters(10, seed=5)
    twin = base[2] + 1e-3
    candidates = pool(np.vstack([base, twin]), base[2], artist_ids=list(range(11)))
    result = apply_policy(candidates, 11, DiscoveryOptions(exclude_near_duplicates=True))
    assert result.dropped["near_duplicate"] == 1 and len(result.rows) == 10
    assert len(apply_policy(candidates, 11, DiscoveryOptions()).rows) == 11


def test_shortfall_explains_every_rule() -> None:
    candidates = _pool(12, artists=[0] * 8 + [1, 2, 3, 4])
    result = apply_policy(candidates, 10, DiscoveryOptions(max_per_artist=1), already_dropped={"below_threshold": 5})
    assert set(result.dropped) == set(RULES)
    assert result.considered == 17 and result.shortfall == 5
    text = result.explanation() or ""
    assert text.startswith("asked for 10, found 5 of 17 candidates")
    assert "7 would exceed max_per_artist" in text and "5 scored below the similarity threshold" in text


def test_titles_normalise() -> None:
    assert normalise_title("Sóng (Live at Wembley)") == "song"
    assert normalise_title("Dancing with Myself") == "dancing with myself"
    assert normalise_title("Song (Part 2)") == "song part 2"
    assert normalise_artist("The Band ft. Someone") == "band"
    assert version_key("Song - 2011 Remaster", "The Band") == version_key("song", "band")
    assert version_key("", "x") == ""


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        apply_policy(_pool(), 0, DiscoveryOptions())
    with pytest.raises(ValueError, match="column lengths"):
        Tracks.build([1, 2], np.zeros((3, 4)))
    with pytest.raises(ValidationError):
        DiscoveryOptions(mode="threshold")
    with pytest.raises(ValidationError):
        DiscoveryOptions(seed_weights=[1.0, 0.0])
    with pytest.raises(ValidationError):
        DiscoveryOptions(seed_weights=[1.0, float("inf")])
    with pytest.raises(ValidationError):
        DiscoveryOptions(exclude_track_ids=[0])
    with pytest.raises(ValidationError):
        DiscoveryOptions(unknown=1)  # type: ignore[call-arg]
