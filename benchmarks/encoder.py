"""Embedding throughput of an encoder on this machine (tracks/s with 3 x 10 s clips per track, clips/s).

python -m benchmarks.encoder                      # small random MuQ, 2 torch threads
python -m benchmarks.encoder --spec small --tracks 48 --batch-size 12
python -m benchmarks.encoder --encoder-dim 256 --depth 4 --conv-dim 32   # another small config
"""

from __future__ import annotations

import json
import statistics
from typing import Annotated

import numpy as np
import torch
import typer

from benchmarks.common import Command, Machine, repeat_timed
from embedding.encoders import MuQEncoder, build_small_muq, load_encoder

app = typer.Typer(add_completion=False)


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


@app.command(cls=Command, help=__doc__)
def main(
    spec: Annotated[str, typer.Option("--spec", help="encoder spec for load_encoder (default: small)")] = "small",
    encoder_dim: Annotated[
        int | None, typer.Option("--encoder-dim", help="build a small MuQ with this width instead of --spec")
    ] = None,
    depth: Annotated[int | None, typer.Option("--depth")] = None,
    conv_dim: Annotated[int | None, typer.Option("--conv-dim")] = None,
    tracks_n: Annotated[int, typer.Option("--tracks")] = 32,
    segments: Annotated[int, typer.Option("--segments", help="clips per track")] = 3,
    seconds_per_clip: Annotated[float, typer.Option("--seconds", help="clip length")] = 10.0,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 8,
    threads: Annotated[int, typer.Option("--threads", help="torch.set_num_threads")] = 2,
    repeats: Annotated[int, typer.Option("--repeats")] = 3,
    demo_tracks: Annotated[int, typer.Option("--demo-tracks", help="report the time this many tracks take")] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON line instead of text")] = False,
) -> None:
    """Embed a synthetic batch of tracks a few times, print the median throughput."""
    torch.set_num_threads(threads)
    if encoder_dim or depth or conv_dim:
        overrides = {
            k: v for k, v in {"encoder_dim": encoder_dim, "depth": depth, "conv_dim": conv_dim}.items() if v is not None
        }
        encoder = MuQEncoder(
            build_small_muq(0, **overrides),
            source=f"small:{overrides}",
            batch_size=batch_size,
            kind="muq-small-random",
            device="cpu",
        )
    else:
        encoder = load_encoder(spec, batch_size=batch_size, device="cpu")
    n_params = sum(p.numel() for p in encoder.model.parameters())
    tracks = _tracks(tracks_n, segments, seconds_per_clip, encoder.sample_rate, seed=0)

    encoder.embed_tracks(tracks[: max(1, batch_size // segments)])  # warm-up (allocator, kernels)
    vectors, timings = repeat_timed(lambda: encoder.embed_tracks(tracks), repeats)
    seconds = statistics.median(timings)
    assert vectors is not None  # repeats >= 1: the median above has raised otherwise
    n_clips = tracks_n * segments
    machine = Machine.now()
    result = {
        "encoder_id": encoder.encoder_id,
        "params": n_params,
        "dim": int(vectors.shape[1]),
        "threads": threads,
        "cpu": machine.cpu,
        "batch_size": batch_size,
        "tracks": tracks_n,
        "clips_per_track": segments,
        "clip_seconds": seconds_per_clip,
        "median_seconds": round(seconds, 3),
        "runs_seconds": [round(t, 3) for t in timings],
        "tracks_per_second": round(tracks_n / seconds, 2),
        "clips_per_second": round(n_clips / seconds, 2),
        # the fastest run is the best estimate on a machine shared with other jobs
        "tracks_per_second_best": round(tracks_n / min(timings), 2),
        "clips_per_second_best": round(n_clips / min(timings), 2),
        "load_average_1min": round(machine.load[0], 2),
        "demo_tracks": demo_tracks,
        "demo_embed_seconds": round(demo_tracks * seconds / tracks_n, 1),
    }
    if as_json:
        print(json.dumps(result))
        return
    print(f"encoder        {result['encoder_id']}  ({n_params / 1e6:.2f} M params, dim {result['dim']})")
    print(
        f"setup          {threads} torch threads, batch {batch_size}, {tracks_n} tracks x "
        f"{segments} x {seconds_per_clip:g} s clips, median of {repeats} runs {result['runs_seconds']}"
    )
    print(
        f"throughput     median {result['tracks_per_second']} tracks/s, {result['clips_per_second']} clips/s; "
        f"best {result['tracks_per_second_best']} tracks/s, {result['clips_per_second_best']} clips/s "
        f"(1-min load average {result['load_average_1min']} on {machine.cpus} CPUs)"
    )
    print(f"{demo_tracks} tracks    ~{result['demo_embed_seconds']} s of encoder time")


if __name__ == "__main__":
    app()
