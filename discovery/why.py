"""Why this track, and where: the tags a result shares with (and takes apart from) its seed, the best-matching
segment pairs with their start and end seconds, and the passage finder at the core of the reference finder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from discovery.vectors import unit_rows
from museed.vocab import TAG_AXES, TagAxis

#: segment cosine at or above which a passage counts as a near-copy of a library recording
NEAR_COPY_COSINE = 0.95


def _tag(tags: Mapping[str, object], axis: TagAxis) -> str | None:
    # a tags record names an axis by its public name, a search hit by its Milvus field
    value = tags.get(axis.name, tags.get(axis.milvus_field))
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class TagComparison:
    """Per tag axis (public name): the labels seed and result share, and the ones where they differ."""

    shared: dict[str, str]
    differing: dict[str, tuple[str, str]]  # axis -> (seed label, result label)

    def phrases(self) -> list[str]:
        """The shared tags as the playlist's "why" words them ("dreamy mood", "high energy")."""
        by_name = {a.name: a for a in TAG_AXES}
        return [by_name[axis].why.format(label) for axis, label in self.shared.items()]


def compare_tags(seed: Mapping[str, object], result: Mapping[str, object]) -> TagComparison:
    """Shared and differing labels on every tag axis both sides carry, in the axes' public order."""
    shared: dict[str, str] = {}
    differing: dict[str, tuple[str, str]] = {}
    for axis in TAG_AXES:
        a, b = _tag(seed, axis), _tag(result, axis)
        if a is None or b is None:
            continue
        if a == b:
            shared[axis.name] = a
        else:
            differing[axis.name] = (a, b)
    return TagComparison(shared, differing)


@dataclass(frozen=True)
class Segments:
    """A track's segment vectors and where each segment lies in the audio (seconds)."""

    vectors: np.ndarray  # (n, d)
    starts: np.ndarray  # (n,)
    ends: np.ndarray  # (n,)

    def __post_init__(self) -> None:
        if not len(self.vectors) == len(self.starts) == len(self.ends):
            raise ValueError("segment vectors, starts and ends must have the same length")
        if np.any(np.asarray(self.ends) <= np.asarray(self.starts)):
            raise ValueError("every segment must end after it starts")

    @classmethod
    def windows(cls, vectors: np.ndarray, window_seconds: float, hop_seconds: float, offset: float = 0.0) -> Segments:
        """Segments of a sliding window: row i covers [offset + i x hop, offset + i x hop + window)."""
        starts = offset + hop_seconds * np.arange(len(vectors))
        return cls(np.asarray(vectors), starts, starts + window_seconds)


@dataclass(frozen=True)
class SegmentMatch:
    """One seed (or demo) passage and the result passage that sounds most like it."""

    seed_start: float
    seed_end: float
    result_start: float
    result_end: float
    similarity: float


def segment_matches(seed: Segments, result: Segments, top: int = 3) -> list[SegmentMatch]:
    """The `top` most similar segment pairs, each seed segment and each result segment used at most once."""
    if len(seed.vectors) == 0 or len(result.vectors) == 0:
        return []
    sims = unit_rows(seed.vectors) @ unit_rows(result.vectors).T
    used_seed: set[int] = set()
    used_result: set[int] = set()
    out: list[SegmentMatch] = []
    for flat in np.argsort(-sims, axis=None, kind="stable"):
        i, j = divmod(int(flat), sims.shape[1])
        if i in used_seed or j in used_result:
            continue
        used_seed.add(i)
        used_result.add(j)
        out.append(_match(seed, result, i, i, j, j, float(sims[i, j])))
        if len(out) == top:
            break
    return out


def _match(seed: Segments, result: Segments, i0: int, i1: int, j0: int, j1: int, sim: float) -> SegmentMatch:
    return SegmentMatch(
        seed_start=float(seed.starts[i0]),
        seed_end=float(seed.ends[i1]),
        result_start=float(result.starts[j0]),
        result_end=float(result.ends[j1]),
        similarity=sim,
    )


@dataclass(frozen=True)
class PassageMatch:
    """The passage of a demo that best matches a library track, and whether it is a near-copy."""

    track_id: int
    passage: SegmentMatch  # demo span (seed_*) and library span (result_*), similarity = mean over the run
    peak_similarity: float
    near_copy: bool


def find_passage(
    demo: Segments, track: Segments, *, track_id: int = 0, near_copy: float = NEAR_COPY_COSINE
) -> PassageMatch | None:
    """The most similar segment pair, grown into a passage: neighbouring demo segments are compared with the track
    segment at the same time offset, and the run extends while those pairs stay at or above `near_copy` (below it,
    the passage is the best pair alone). The two tracks may use different hops. None without segments."""
    if len(demo.vectors) == 0 or len(track.vectors) == 0:
        return None
    sims = unit_rows(demo.vectors) @ unit_rows(track.vectors).T
    i, j = (int(v) for v in np.unravel_index(int(np.argmax(sims)), sims.shape))
    peak = float(sims[i, j])
    offset = float(track.starts[j] - demo.starts[i])
    track_starts = np.asarray(track.starts, dtype=np.float64)

    def aligned(m: int) -> int:
        return int(np.argmin(np.abs(track_starts - (float(demo.starts[m]) + offset))))

    run = {i: j}
    if peak >= near_copy:
        for step in (-1, 1):
            m = i + step
            while 0 <= m < len(demo.vectors) and sims[m, aligned(m)] >= near_copy:
                run[m] = aligned(m)
                m += step
    lo, hi = min(run), max(run)
    mean = float(np.mean([sims[m, n] for m, n in run.items()]))
    passage = _match(demo, track, lo, hi, run[lo], run[hi], mean)
    return PassageMatch(track_id=int(track_id), passage=passage, peak_similarity=peak, near_copy=peak >= near_copy)


def find_references(
    demo: Segments,
    library: Sequence[tuple[int, Segments]],
    *,
    top: int = 10,
    near_copy: float = NEAR_COPY_COSINE,
) -> list[PassageMatch]:
    """The reference finder's core: over a shortlist of library tracks (the index's nearest to the demo's pooled
    vector), each track's best-matching passage, most similar first, with near-copies flagged."""
    found = [find_passage(demo, segs, track_id=tid, near_copy=near_copy) for tid, segs in library]
    matches = [m for m in found if m is not None]
    matches.sort(key=lambda m: (-m.peak_similarity, m.track_id))
    return matches[:top]
