"""The reference finder on real audio: synthetic tracks from `synth`, the small random MuQ encoder, and a demo that
lifts a passage from a library track at a random position past its first 30 s."""

from __future__ import annotations

import numpy as np
import pytest

from discovery.why import Segments, find_passage, find_references

SR = 24_000  # the encoder's input rate
WINDOW = 4  # seconds per segment window
HOP = 2  # seconds between windows
COPY = 10  # seconds the demo lifts


def _render(track: int, seconds: float) -> np.ndarray:
    from scipy.signal import resample_poly

    from synth import SAMPLE_RATE, plan_corpus, render_track

    plan = plan_corpus(8, seed=3)[track]
    audio = render_track(plan, seconds)
    assert SAMPLE_RATE == 44_100
    resampled: np.ndarray = resample_poly(audio, 80, 147)  # 44.1 kHz -> 24 kHz
    return resampled.astype(np.float32)


@pytest.mark.slow
def test_planted_passage_found_in_real_audio() -> None:
    import torch

    from embedding import load_encoder
    from museed.settings import Settings

    torch.set_num_threads(2)
    encoder = load_encoder("small", settings=Settings(), device="cpu")
    assert encoder.sample_rate == SR

    def segments(audio: np.ndarray) -> Segments:
        starts = range(0, len(audio) // SR - WINDOW + 1, HOP)
        clips = np.stack([audio[s * SR : (s + WINDOW) * SR] for s in starts])
        return Segments.windows(encoder.embed_segments(clips), WINDOW, HOP)

    rng = np.random.default_rng(17)
    library, demo, unrelated = _render(0, 50.0), _render(5, 26.0), _render(1, 40.0)
    planted_at = HOP * int(rng.integers(16, 21))  # 32..40 s: past the first 30 s
    demo_at = HOP * int(rng.integers(2, 5))
    demo[demo_at * SR : (demo_at + COPY) * SR] = library[planted_at * SR : (planted_at + COPY) * SR]

    demo_segments, library_segments = segments(demo), segments(library)
    found = find_passage(demo_segments, library_segments, track_id=1, near_copy=0.99)
    assert found is not None and found.near_copy and found.peak_similarity > 0.999
    p = found.passage
    # the windows wholly inside the copy: the passage is the planted one, to the second
    assert (p.result_start, p.result_end) == (planted_at, planted_at + COPY)
    assert (p.seed_start, p.seed_end) == (demo_at, demo_at + COPY)
    ranked = find_references(demo_segments, [(2, segments(unrelated)), (1, library_segments)], near_copy=0.99)
    assert [m.track_id for m in ranked] == [1, 2] and [m.near_copy for m in ranked] == [True, False]
