"""Cost of dense windows on demand vs a stored segment set (issue 17, reference finder).

Run: python -m benchmarks.references
Embeds one synthetic 80-s track into 10-s windows every 5 s (the production segment policy) with each encoder, on
CPU with 2 torch threads, then reads the stored windows back; prints per-window and per-track costs and the
library-scale projection for FMA full (106,574 tracks, mean duration 270 s)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from embedding import load_encoder
from embedding.job import SegmentPolicy
from embedding.segments import SegmentStore, WindowPolicy, window_starts
from museed.settings import Settings
from synth import plan_corpus, render_track
from synth.corpus import encode_mp3

FMA_TRACKS, FMA_MEAN_SECONDS = 106_574, 270.0


def main() -> None:
    """Embed, store and read back one track's dense windows with each encoder; print the figures."""
    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp())
    track = tmp / "t.mp3"
    encode_mp3(track, render_track(plan_corpus(4, seed=1)[0], 80.0))
    for spec in ("small:0", "musicnn"):
        enc = load_encoder(spec, settings=Settings(), device="cpu")
        policy = WindowPolicy.dense(SegmentPolicy(sample_rate=enc.sample_rate, segment_seconds=10.0))
        enc.embed_segments(np.full((1, int(10 * enc.sample_rate)), 0.01, dtype=np.float32))  # warm-up
        store = SegmentStore(tmp / spec.replace(":", "_"), enc, policy)
        t0 = time.perf_counter()
        found = store.fill(1, track)
        fill = time.perf_counter() - t0
        fresh = SegmentStore(tmp / spec.replace(":", "_"), enc, policy)
        t0 = time.perf_counter()
        fresh.get(1)
        read = time.perf_counter() - t0
        n = len(found.vectors)
        size = (store.folder / "1.npz").stat().st_size
        per_fma_track = len(window_starts(FMA_MEAN_SECONDS, 10.0, 5.0))
        print(
            f"{spec:8s} dim {enc.dim:4d}: {n} windows of an 80-s track in {fill:.2f} s "
            f"({fill / n * 1000:.0f} ms/window, decode included); stored {size / 1024:.1f} KiB, "
            f"read back in {read * 1000:.1f} ms; FMA full: "
            f"{per_fma_track} windows per mean track, {FMA_TRACKS * per_fma_track / 1e6:.2f} M windows, "
            f"{FMA_TRACKS * per_fma_track * enc.dim * 2 / 2**30:.1f} GiB float16 at this dim "
            f"({FMA_TRACKS * per_fma_track * 1024 * 2 / 2**30:.1f} GiB at MuQ's 1024), "
            f"{per_fma_track / 3:.0f}x the clips of the vector set"
        )


if __name__ == "__main__":
    main()
