"""Why this track, and where: tag comparison, segment highlights and the reference finder on a plagiarised demo."""

from __future__ import annotations

import numpy as np
import pytest

from discovery.why import Segments, compare_tags, find_passage, find_references, segment_matches

WINDOW = 10.0  # seconds per segment, as the library embedding's segment policy
COPY = 20.0  # seconds the demo lifts from the library track


def _latents(seconds: int, rng: np.random.Generator, dim: int = 32) -> np.ndarray:
    """What an encoder would hear, second by second: an independent random vector per second."""
    return rng.normal(size=(seconds, dim))


def _segments(latents: np.ndarray, hop: int, rng: np.random.Generator, noise: float = 0.03) -> Segments:
    """Sliding-window segment vectors: the mean of the window's seconds, plus a little encoder noise."""
    w = int(WINDOW)
    starts = range(0, len(latents) - w + 1, hop)
    vectors = np.stack([latents[s : s + w].mean(axis=0) for s in starts])
    vectors = vectors + noise * rng.normal(size=vectors.shape) * np.linalg.norm(vectors, axis=1, keepdims=True)
    return Segments.windows(vectors, WINDOW, float(hop))


def _plagiarised(seed: int) -> tuple[Segments, Segments, Segments, int, int]:
    """A 180 s library track, a 90 s demo that copies 20 s of it from past the first 30 s, and an unrelated track."""
    rng = np.random.default_rng(seed)
    library = _latents(180, rng)
    planted_at = int(rng.integers(31, 150))
    demo = _latents(90, rng)
    demo_at = 2 * int(rng.integers(5, 30))  # on the demo's 2 s hop grid
    demo[demo_at : demo_at + int(COPY)] = library[planted_at : planted_at + int(COPY)]
    other = _latents(180, rng)
    return _segments(demo, 2, rng), _segments(library, 1, rng), _segments(other, 1, rng), planted_at, demo_at


@pytest.mark.parametrize("seed", range(5))
def test_reference_finder_points_at_the_planted_passage(seed: int) -> None:
    demo, library, other, planted_at, demo_at = _plagiarised(seed)
    match = find_passage(demo, library, track_id=7)
    assert match is not None and match.near_copy and match.track_id == 7
    p = match.passage
    assert planted_at > 30
    assert abs(p.result_start - planted_at) <= 1 and abs(p.result_end - (planted_at + COPY)) <= 1
    assert abs(p.seed_start - demo_at) <= 2 and abs(p.seed_end - (demo_at + COPY)) <= 2
    unrelated = find_passage(demo, other, track_id=8)
    assert unrelated is not None and not unrelated.near_copy and unrelated.peak_similarity < 0.95
    ranked = find_references(demo, [(8, other), (7, library)])
    assert [m.track_id for m in ranked] == [7, 8] and [m.near_copy for m in ranked] == [True, False]


def test_segment_highlights_pick_the_matching_pair_first() -> None:
    demo, library, _, planted_at, demo_at = _plagiarised(11)
    top = segment_matches(demo, library, top=3)
    assert len(top) == 3 and top[0].similarity >= top[1].similarity >= top[2].similarity
    assert planted_at - 1 <= top[0].result_start <= planted_at + COPY - WINDOW + 1
    assert demo_at <= top[0].seed_start <= demo_at + COPY - WINDOW
    assert len({m.seed_start for m in top}) == 3 and len({m.result_start for m in top}) == 3
    assert segment_matches(Segments.windows(np.zeros((0, 4)), 10, 5), library) == []


def test_segments_reject_bad_spans() -> None:
    with pytest.raises(ValueError, match="same length"):
        Segments(np.zeros((2, 4)), np.array([0.0]), np.array([10.0]))
    with pytest.raises(ValueError, match="end after"):
        Segments(np.zeros((1, 4)), np.array([5.0]), np.array([5.0]))


def test_tags_shared_and_differing() -> None:
    seed = {"genre": "Rock", "mood_style": "dreamy", "affect.energy": "x", "energy": "high", "valence": "positive"}
    result = {"genre_top": "Rock", "mood_style": "driving", "energy": "high", "source": "acoustic"}
    c = compare_tags(seed, result)
    assert c.shared == {"genre": "Rock", "energy": "high"}
    assert c.differing == {"mood_style": ("dreamy", "driving")}
    assert c.phrases() == ["Rock", "high energy"]
    assert compare_tags({}, result).shared == {}
