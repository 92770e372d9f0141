"""Embedding throughput of an encoder on this machine (tracks/s with 3 x 10 s clips per track, clips/s).

python scripts/bench_encoder.py                      # small random MuQ, 2 torch threads
python scripts/bench_encoder.py --spec small --tracks 48 --batch-size 12
python scripts/bench_encoder.py --encoder-dim 256 --depth 4 --conv-dim 32   # another small config
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from embedding.encoders import MuQEncoder, build_small_muq, load_encoder


def _tracks(n_tracks: int, n_segments: int, seconds: float, sample_rate: int, seed: int) -> list[np.ndarray]:
    """Tone-plus-noise clips (the encoder's cost does not depend on content; this keeps them non-trivial)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tracks = []
    for _ in range(n_tracks):
        clips = [
            0.3 * np.sin(2 * np.pi * rng.uniform(80, 1000) * t) + 0.05 * rng.standard_normal(t.size)
            for _ in range(n_segments)
        ]
        tracks.append(np.stack(clips).astype(np.float32))
    return tracks


def main() -> None:
    """Parse arguments, embed a synthetic batch of tracks a few times, print the median throughput."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="small", help="encoder spec for load_encoder (default: small)")
    parser.add_argument("--encoder-dim", type=int, help="build a small MuQ with this width instead of --spec")
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--conv-dim", type=int, default=None)
    parser.add_argument("--tracks", type=int, default=32)
    parser.add_argument("--segments", type=int, default=3, help="clips per track")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo-tracks", type=int, default=300, help="report the time this many tracks take")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.encoder_dim or args.depth or args.conv_dim:
        overrides = {
            k: v
            for k, v in {"encoder_dim": args.encoder_dim, "depth": args.depth, "conv_dim": args.conv_dim}.items()
            if v is not None
        }
        encoder = MuQEncoder(
            build_small_muq(0, **overrides),
            source=f"small:{overrides}",
            batch_size=args.batch_size,
            kind="muq-small-random",
            device="cpu",
        )
    else:
        encoder = load_encoder(args.spec, batch_size=args.batch_size, device="cpu")
    n_params = sum(p.numel() for p in encoder.model.parameters())
    tracks = _tracks(args.tracks, args.segments, args.seconds, encoder.sample_rate, seed=0)

    encoder.embed_tracks(tracks[: max(1, args.batch_size // args.segments)])  # warm-up (allocator, kernels)
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        vectors = encoder.embed_tracks(tracks)
        timings.append(time.perf_counter() - start)
    seconds = statistics.median(timings)
    n_clips = args.tracks * args.segments
    result = {
        "encoder_id": encoder.encoder_id,
        "params": n_params,
        "dim": int(vectors.shape[1]),
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "batch_size": args.batch_size,
        "tracks": args.tracks,
        "clips_per_track": args.segments,
        "clip_seconds": args.seconds,
        "median_seconds": round(seconds, 3),
        "runs_seconds": [round(t, 3) for t in timings],
        "tracks_per_second": round(args.tracks / seconds, 2),
        "clips_per_second": round(n_clips / seconds, 2),
        # the fastest run is the best estimate on a machine shared with other jobs
        "tracks_per_second_best": round(args.tracks / min(timings), 2),
        "clips_per_second_best": round(n_clips / min(timings), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "demo_tracks": args.demo_tracks,
        "demo_embed_seconds": round(args.demo_tracks * seconds / args.tracks, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"encoder        {result['encoder_id']}  ({n_params / 1e6:.2f} M params, dim {result['dim']})")
    print(
        f"setup          {args.threads} torch threads, batch {args.batch_size}, {args.tracks} tracks x "
        f"{args.segments} x {args.seconds:g} s clips, median of {args.repeats} runs {result['runs_seconds']}"
    )
    print(
        f"throughput     median {result['tracks_per_second']} tracks/s, {result['clips_per_second']} clips/s; "
        f"best {result['tracks_per_second_best']} tracks/s, {result['clips_per_second_best']} clips/s "
        f"(1-min load average {result['load_average_1min']} on {os.cpu_count()} CPUs)"
    )
    print(f"{args.demo_tracks} tracks    ~{result['demo_embed_seconds']} s of encoder time")


if __name__ == "__main__":
    main()
