"""Triplet construction: genre-balanced anchors, tag-matched positives and five levels of hard negatives.

Tag importance, most important first: genre > valence > mood_style > energy > source. A negative of level k
matches the anchor on every feature more important than the one it differs at:

| level | name          | same as the anchor                      | different  |
|-------|---------------|-----------------------------------------|------------|
| 0     | source-hard   | genre, valence, mood_style, energy      | source     |
| 1     | energy-hard   | genre, valence, mood_style              | energy     |
| 2     | mood-hard     | genre, valence                          | mood_style |
| 3     | valence-hard  | genre                                   | valence    |
| 4     | easy          | -                                       | genre      |

Every track satisfying a level's rule is a candidate, drawn uniformly. A level is also unavailable when the
anchor's positive does not share the feature that level's negative differs at (a positive relaxed to "genre
only" cannot be paired with a valence-hard negative: the negative would be as close as the positive, and could
even be the positive itself). When an anchor has no candidate at the requested level it falls back to the next
easier level (k+1, ..., 4) and the fallback is counted.

Anchors: within each split, genre i is drawn with P(i) = (1/N_i) / sum_j (1/N_j) over the genres present in
that split (N_i = its tracks there; a genre needs at least 2 tracks, else no positive exists), then a track
uniformly within the genre.

Positives: a different track of the same split and genre sharing as many tags as possible, relaxed in the
reverse order of importance: all of (valence, mood_style, energy, source), then drop source, then energy, then
mood_style, then valence (genre only). Within the chosen pool a track of another artist is preferred (up to 8
re-draws). `positive_match` records how many of the four tags the positive shares by construction (4..0).

Splits are by artist (`museed.splits.track_table`, the same rule `museed evaluate` uses for held-out tracks):
FMA's `set/split` when every track has one (an artist listed in several splits is put in its most common one),
otherwise a deterministic hash of the artist id (80/10/10). No artist is on two sides.

Everything is vectorised: tracks are sorted by (split, genre, valence, mood_style, energy, source), so every
"same prefix of features" pool is one contiguous range and every level's pool is a range minus a sub-range.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from museed.errors import PipelineError
from museed.splits import SPLITS, track_table
from museed.tags import TrackTags
from museed.vocab import AXES_BY_IMPORTANCE

#: features (tag axis names) in order of importance, the genre first; level k differs at FEATURES[4 - k]
FEATURES: tuple[str, ...] = tuple(a.name for a in AXES_BY_IMPORTANCE)
LEVELS: tuple[int, ...] = (0, 1, 2, 3, 4)
LEVEL_NAMES: dict[int, str] = {0: "source-hard", 1: "energy-hard", 2: "mood-hard", 3: "valence-hard", 4: "easy"}
DEFAULT_MIX: dict[int, float] = dict.fromkeys(LEVELS, 0.2)
_ARTIST_REDRAWS = 8  # re-draws of a positive by the anchor's own artist before accepting it


class TripletError(PipelineError):
    """Inputs from which no triplets can be built (no tags, one genre, bad mix ...)."""


@dataclass
class TripletStats:
    """What `build_triplets` produced: anchor-genre law vs its realisation, levels, fallbacks."""

    n_triplets: int
    per_split: dict[str, int]
    tracks_per_split: dict[str, int]
    artists_per_split: dict[str, int]
    split_source: str  # "fma" or "artist-hash"
    artists_moved: int  # artists whose tracks FMA listed in several splits (put in their majority split)
    target_genre_p: dict[str, dict[str, float]]  # split -> genre -> P(i)
    realised_genre_p: dict[str, dict[str, float]]
    genre_tracks: dict[str, dict[str, int]]  # split -> genre -> N_i
    genres_skipped: dict[str, list[str]]  # split -> genres with < 2 tracks (no positive possible)
    requested_per_level: dict[int, int]
    realised_per_level: dict[int, int]
    fallbacks: dict[str, int]  # "k->j" -> count
    positive_match: dict[int, int]  # tags shared by the positive -> count
    positive_same_artist: int
    mix: dict[int, float]
    curriculum_epochs: int
    tracks_without_tags: int = 0
    tracks_without_genre: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (level keys as strings)."""
        out = dict(self.__dict__)
        for key in ("requested_per_level", "realised_per_level", "positive_match", "mix"):
            out[key] = {str(k): v for k, v in out[key].items()}
        return out


def parse_mix(text: str | None) -> dict[int, float]:
    """ "0:0.2,1:0.2,..." -> {level: weight}, normalised to sum 1 (missing levels get 0)."""
    if text is None or not text.strip():
        return dict(DEFAULT_MIX)
    mix = dict.fromkeys(LEVELS, 0.0)
    for part in text.split(","):
        key, sep, value = part.partition(":")
        try:
            level, weight = int(key), float(value)
        except ValueError:
            raise TripletError(f"bad mix entry {part!r}: expected LEVEL:WEIGHT, e.g. 0:0.2") from None
        if not sep or level not in LEVELS or weight < 0:
            raise TripletError(f"bad mix entry {part!r}: level must be 0..4 and weight >= 0")
        mix[level] = weight
    return _normalise_mix(mix)


def _normalise_mix(mix: Mapping[int, float]) -> dict[int, float]:
    total = float(sum(mix.values()))
    if total <= 0:
        raise TripletError("the level mix must have a positive weight somewhere")
    return {k: float(mix.get(k, 0.0)) / total for k in LEVELS}


def curriculum_mixes(target: Mapping[int, float], epochs: int) -> list[dict[int, float]]:
    """Per-epoch mixes from all-easy (level 4) at epoch 0 to `target` at the last epoch, linearly."""
    if epochs < 1:
        raise TripletError("curriculum epochs must be >= 1")
    easy = {k: 1.0 if k == 4 else 0.0 for k in LEVELS}
    if epochs == 1:
        return [_normalise_mix(target)]
    out = []
    for e in range(epochs):
        t = e / (epochs - 1)
        out.append(_normalise_mix({k: (1 - t) * easy[k] + t * target.get(k, 0.0) for k in LEVELS}))
    return out


def _prefix_ranges(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by `codes` (n, c): lo[m, i], hi[m, i] = the range of rows sharing row i's first m columns."""
    n, c = codes.shape
    lo = np.empty((c + 1, n), dtype=np.int64)
    hi = np.empty((c + 1, n), dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for m in range(c + 1):
        if m > 0:
            change[1:] |= codes[1:, m - 1] != codes[:-1, m - 1]
        starts = np.flatnonzero(change)
        gid = np.cumsum(change) - 1
        ends = np.append(starts[1:], n)
        lo[m], hi[m] = starts[gid], ends[gid]
    return lo, hi


def _draw_in_range_minus(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, sub_lo: np.ndarray, sub_hi: np.ndarray
) -> np.ndarray:
    """A uniform index in [lo, hi) minus [sub_lo, sub_hi) per row (callers ensure the set is not empty)."""
    before = sub_lo - lo
    count = (hi - lo) - (sub_hi - sub_lo)
    r = np.floor(rng.random(len(lo)) * count).astype(np.int64)
    return np.where(r < before, lo + r, sub_hi + (r - before))


def build_triplets(
    table: pd.DataFrame,
    n: int,
    *,
    mix: Mapping[int, float] | None = None,
    curriculum_epochs: int = 1,
    seed: int = 0,
    split_facts: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, TripletStats]:
    """Draw about `n` triplets (split in proportion to each split's tracks) from a `track_table`.

    Returns (triplets, stats). Columns: anchor, positive, negative (track ids), level (realised),
    requested_level, split, anchor_genre, {anchor,positive,negative}_mood_style, positive_match, epoch
    (curriculum epoch, 0 without curriculum).
    With `curriculum_epochs` E > 1, each epoch gets n/E triplets with the mix moving from all-easy to `mix`.
    """
    if n < 1:
        raise TripletError("n must be >= 1")
    target_mix = _normalise_mix(mix or DEFAULT_MIX)
    mixes = curriculum_mixes(target_mix, curriculum_epochs)
    rng = np.random.default_rng(seed)
    split_facts = dict(split_facts or {})

    # sort so every feature-prefix pool is contiguous
    codes = {c: pd.Categorical(table[c]).codes.astype(np.int64) for c in ("split", *FEATURES)}
    order = np.lexsort([codes[c] for c in reversed(("split", *FEATURES))])
    t = table.iloc[order].reset_index(drop=True)
    code_matrix = np.stack([codes[c][order] for c in ("split", *FEATURES)], axis=1)
    lo, hi = _prefix_ranges(code_matrix)  # m = 1: split, 2: +genre, ..., 6: all features
    track_ids = t["track_id"].to_numpy()
    artists = t["artist_id"].to_numpy()

    split_sizes = t["split"].value_counts()
    present = [s for s in SPLITS if s in split_sizes.index] + sorted(set(split_sizes.index) - set(SPLITS))
    quota = {s: round(n * int(split_sizes[s]) / len(t)) for s in present}
    quota[present[0]] += n - sum(quota.values())  # rounding remainder to the largest split (training)

    frames: list[pd.DataFrame] = []
    stats_target: dict[str, dict[str, float]] = {}
    stats_real: dict[str, dict[str, float]] = {}
    stats_genre_n: dict[str, dict[str, int]] = {}
    skipped: dict[str, list[str]] = {}
    for split in present:
        rows = np.flatnonzero(t["split"].to_numpy() == split)
        genre_counts = t.iloc[rows]["genre"].value_counts().sort_index()
        stats_genre_n[split] = {str(g): int(c) for g, c in genre_counts.items()}
        eligible = genre_counts[genre_counts >= 2]
        skipped[split] = sorted(str(g) for g in genre_counts.index if g not in eligible.index)
        if eligible.empty or quota[split] <= 0:
            continue
        inv = 1.0 / eligible.to_numpy(dtype=float)
        p = inv / inv.sum()
        stats_target[split] = {str(g): float(v) for g, v in zip(eligible.index, p, strict=True)}
        # the first row of each eligible genre in this split
        genre_col = t.iloc[rows]["genre"].to_numpy()
        first_row = {g: int(rows[np.argmax(genre_col == g)]) for g in eligible.index}
        per_epoch = np.diff(np.linspace(0, quota[split], len(mixes) + 1).round().astype(int))
        for epoch, (m_count, level_mix) in enumerate(zip(per_epoch, mixes, strict=True)):
            if m_count == 0:
                continue
            genre_idx = rng.choice(len(eligible), size=m_count, p=p)
            g_first = np.array([first_row[g] for g in eligible.index])[genre_idx]
            g_lo, g_hi = lo[2, g_first], hi[2, g_first]
            anchor = g_lo + np.floor(rng.random(m_count) * (g_hi - g_lo)).astype(np.int64)
            frames.append(
                _complete(rng, anchor, level_mix, lo, hi, artists, track_ids, t, split, epoch),
            )
        realised = pd.concat([f["anchor_genre"] for f in frames if f["split"].iat[0] == split])
        freq = realised.value_counts(normalize=True)
        stats_real[split] = {str(g): float(freq.get(g, 0.0)) for g in eligible.index}

    if not frames:
        raise TripletError("no split has a genre with at least 2 tracks: cannot build triplets")
    out = pd.concat(frames, ignore_index=True)
    fallback = out[out["level"] != out["requested_level"]]
    stats = TripletStats(
        n_triplets=len(out),
        per_split={str(k): int(v) for k, v in out["split"].value_counts().items()},
        tracks_per_split={str(k): int(v) for k, v in split_sizes.items()},
        artists_per_split={str(k): int(v) for k, v in t.groupby("split")["artist_id"].nunique().items()},
        split_source=str(split_facts.get("split_source", "given")),
        artists_moved=int(split_facts.get("artists_moved", 0)),
        target_genre_p=stats_target,
        realised_genre_p=stats_real,
        genre_tracks=stats_genre_n,
        genres_skipped=skipped,
        requested_per_level={k: int((out["requested_level"] == k).sum()) for k in LEVELS},
        realised_per_level={k: int((out["level"] == k).sum()) for k in LEVELS},
        fallbacks={f"{a}->{b}": int(c) for (a, b), c in fallback.groupby(["requested_level", "level"]).size().items()},
        positive_match={k: int((out["positive_match"] == k).sum()) for k in range(5)},
        positive_same_artist=int(out["positive_same_artist"].sum()),
        mix=target_mix,
        curriculum_epochs=len(mixes),
        tracks_without_tags=int(split_facts.get("tracks_without_tags", 0)),
        tracks_without_genre=int(split_facts.get("tracks_without_genre", 0)),
    )
    return out.drop(columns=["positive_same_artist"]), stats


def _complete(
    rng: np.random.Generator,
    anchor: np.ndarray,
    level_mix: Mapping[int, float],
    lo: np.ndarray,
    hi: np.ndarray,
    artists: np.ndarray,
    track_ids: np.ndarray,
    t: pd.DataFrame,
    split: str,
    epoch: int,
) -> pd.DataFrame:
    """Positives and negatives for sorted-row anchors (one split, one mix)."""
    m = len(anchor)
    depth = 1 + len(FEATURES)  # prefix length with split and all features
    # positive: deepest prefix (all tags ... genre only) that holds another track
    pool_depth = np.full(m, -1, dtype=np.int64)
    for d in range(depth, 1, -1):
        has = (hi[d, anchor] - lo[d, anchor]) >= 2
        pool_depth = np.where((pool_depth < 0) & has, d, pool_depth)
    p_lo, p_hi = lo[pool_depth, anchor], hi[pool_depth, anchor]
    positive = _draw_in_range_minus(rng, p_lo, p_hi, anchor, anchor + 1)
    for _ in range(_ARTIST_REDRAWS):
        same = artists[positive] == artists[anchor]
        if not same.any():
            break
        idx = np.flatnonzero(same)
        positive[idx] = _draw_in_range_minus(rng, p_lo[idx], p_hi[idx], anchor[idx], anchor[idx] + 1)
    # negatives: level k keeps prefix 6-k (split, genre ... ) and differs at the next feature
    levels = np.array(LEVELS)
    requested = rng.choice(levels, size=m, p=[level_mix[k] for k in LEVELS])
    realised = requested.copy()
    for k in LEVELS:  # walk up: a level without candidates falls back to k+1
        keep = depth - 1 - k  # k=0 -> 5 (all but source), k=4 -> 1 (split only)
        count = (hi[keep, anchor] - lo[keep, anchor]) - (hi[keep + 1, anchor] - lo[keep + 1, anchor])
        # the positive must share the feature this level's negative differs at, so it stays the closer one
        stuck = (realised == k) & ((count == 0) | (pool_depth < keep + 1))
        if k < 4:
            realised[stuck] = k + 1
        elif stuck.any():
            raise TripletError(f"split {split!r} holds a single genre: no easy negative exists")
    negative = np.empty(m, dtype=np.int64)
    for k in LEVELS:
        idx = np.flatnonzero(realised == k)
        if len(idx) == 0:
            continue
        keep = depth - 1 - k
        a = anchor[idx]
        negative[idx] = _draw_in_range_minus(rng, lo[keep, a], hi[keep, a], lo[keep + 1, a], hi[keep + 1, a])
    return pd.DataFrame(
        {
            "anchor": track_ids[anchor],
            "positive": track_ids[positive],
            "negative": track_ids[negative],
            "level": realised.astype(np.int8),
            "requested_level": requested.astype(np.int8),
            "split": split,
            "anchor_genre": t["genre"].to_numpy()[anchor],
            # each track's mood_style tag (a discriminant head's mood directions, `training.model`)
            "anchor_mood_style": t["mood_style"].to_numpy()[anchor],
            "positive_mood_style": t["mood_style"].to_numpy()[positive],
            "negative_mood_style": t["mood_style"].to_numpy()[negative],
            "positive_match": (pool_depth - 2).astype(np.int8),
            "positive_same_artist": artists[positive] == artists[anchor],
            "epoch": np.full(m, epoch, dtype=np.int16),
        }
    )


def write_triplets(out: Path, triplets: pd.DataFrame, stats: TripletStats) -> Path:
    """Write the Parquet file and `<out>.stats.json` (atomically); returns the stats path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}")
    triplets.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    stats_path = stats_path_for(out)
    stats_path.write_text(json.dumps(stats.to_json(), indent=2, sort_keys=True) + "\n")
    return stats_path


def stats_path_for(out: Path) -> Path:
    """Where the stats JSON of a triplets file lives."""
    return Path(out).with_suffix(".stats.json")


def load_tags_file(path: Path) -> dict[int, TrackTags]:
    """A tagger's JSONL (`multi_axis_analysis_results.jsonl`) or the synthetic corpus' `synth_ground_truth.csv`."""
    from museed.tags import ground_truth_tags, read_tags

    path = Path(path)
    if not path.is_file():
        raise TripletError(f"no tags file at {path} (run `museed tag` first)")
    return ground_truth_tags(path) if path.suffix.lower() == ".csv" else read_tags(path)


def make_triplets(
    fma: Path,
    tags_path: Path,
    out: Path,
    n: int,
    *,
    mix: Mapping[int, float] | None = None,
    curriculum_epochs: int = 1,
    seed: int = 0,
) -> TripletStats:
    """`museed triplets`: catalog + tags -> triplets Parquet at `out` and its stats JSON next to it."""
    from museed.catalog import load_catalog

    catalog = load_catalog(fma, scan_unlisted=False)
    # tracks without audio cannot be trained on: leave them out here rather than fail later
    tracks = catalog.with_audio()
    table, facts = track_table(tracks, load_tags_file(tags_path))
    triplets, stats = build_triplets(
        table, n, mix=mix, curriculum_epochs=curriculum_epochs, seed=seed, split_facts=facts
    )
    stats.extra["tracks_without_audio"] = int(len(catalog.tracks) - len(tracks))
    write_triplets(out, triplets, stats)
    return stats
