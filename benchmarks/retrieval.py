"""Same-recording retrieval: does a re-encoded excerpt of a library track find that track first?

Each query is an excerpt of a library track at a random offset (never on a segment boundary), downmixed to
mono, resampled to `--query-rate` and encoded as MP3 at a constant bitrate (libsndfile's LAME encoder, the
bitrate measured from the file). The query bytes go through the upload path's decode and embed
(`load_segments(bytes, ...)` with the library's segment policy, then `embed_tracks`, as
`api.uploads.service.UploadEmbedder.embed` does). Two ways of matching are scored: the whole-track vector
(mean of the track's clip vectors, what the index serves) and the best-matching segment (the largest cosine
between any query clip and any of the track's stored clip vectors). The library is `--fma`'s catalog, plus any
`--extra` audio files (real recordings).

    python -m benchmarks.retrieval --fma /tmp/issue16/fma2000 --encoder musicnn --queries 50 \\
        --out docs/benchmarks/retrieval-musicnn.json
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from benchmarks.common import Command, Machine, write_json

app = typer.Typer(add_completion=False)
#: excerpts quieter than this RMS (-60 dBFS) are drawn again: some real tracks hold seconds of silence, which the
#: upload API refuses (and no listener asks about)
AUDIBLE_RMS = 1e-3


def excerpt_mp3(
    path: str, seconds: float, rng: np.random.Generator, rate: int, level: float, avoid: float
) -> tuple[bytes, float]:
    """(MP3 bytes, offset in s) of a mono `seconds` excerpt at `rate` Hz from a random offset off the `avoid` grid
    (an excerpt quieter than `AUDIBLE_RMS` is drawn again)."""
    import soundfile as sf
    import soxr

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    span = len(mono) / sr - seconds
    if span <= 0.2:
        raise ValueError(f"{path} is too short for a {seconds:g} s excerpt")
    for _ in range(1000):
        offset = float(rng.uniform(0.05, span - 0.05))
        if min(offset % avoid, avoid - offset % avoid) <= 0.25:  # at least 0.25 s away from a segment start
            continue
        clip = mono[int(offset * sr) : int(offset * sr) + int(seconds * sr)]
        if np.sqrt(np.mean(np.square(clip, dtype=np.float64))) >= AUDIBLE_RMS:  # a silent passage asks nothing
            break
    else:
        raise ValueError(f"{path} has no audible {seconds:g} s excerpt off the {avoid:g}-s grid")
    buffer = io.BytesIO()
    sf.write(
        buffer, soxr.resample(clip, sr, rate), rate, format="MP3", bitrate_mode="CONSTANT", compression_level=level
    )
    return buffer.getvalue(), offset


def library_vectors(encoder: Any, paths: list[str], policy: Any, dense: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(whole-track vectors as the index serves them, per-track clip vectors L2-normalised) of every library file.

    The clip vectors come from up to `dense` non-overlapping clips over the track (the segment policy spreads
    them), so an excerpt from anywhere in a long track has a stored clip it overlaps.
    """
    from embedding.audio import load_segments
    from embedding.pooling import l2_normalise, pool_tracks

    served: list[np.ndarray] = []
    clips: list[np.ndarray] = []
    for done, path in enumerate(paths, start=1):
        seg = load_segments(path, policy.sample_rate, policy.segment_seconds, policy.n_segments, policy.limits)
        served.append(encoder.embed_segments(seg.segments))
        if dense > policy.n_segments:
            seg = load_segments(path, policy.sample_rate, policy.segment_seconds, dense, policy.limits)
            clips.append(encoder.embed_segments(seg.segments))
        else:
            clips.append(served[-1])
        if done % 100 == 0:
            print(f"[{time.strftime('%H:%M:%S')}] library {done}/{len(paths)}", flush=True)
    return pool_tracks(served, encoder.dim), [l2_normalise(c) for c in clips]


def rank_of(scores: np.ndarray, target: int) -> int:
    """1-based rank of `target` (ties count against it)."""
    return int((scores >= scores[target]).sum())


def run(
    encoder: Any,
    paths: list[str],
    queries: list[int],
    seconds: float,
    rate: int,
    level: float,
    seed: int,
    dense: int,
) -> dict[str, Any]:
    """Embed the library, then every query; top-1 rates and ranks for both matching rules."""
    from embedding.audio import load_segments
    from embedding.job import SegmentPolicy
    from embedding.pooling import l2_normalise
    from museed.settings import get_settings

    policy = SegmentPolicy.from_settings(get_settings(), sample_rate=encoder.sample_rate)
    t0 = time.perf_counter()
    whole, segments = library_vectors(encoder, paths, policy, dense)
    library_seconds = time.perf_counter() - t0
    owner = np.concatenate([np.full(len(s), i) for i, s in enumerate(segments)])
    flat = np.concatenate(segments)
    rng = np.random.default_rng(seed)
    rows, bitrates = [], []
    for target in queries:
        data, offset = excerpt_mp3(paths[target], seconds, rng, rate, level, policy.segment_seconds)
        bitrates.append(8 * len(data) / seconds / 1000)
        seg = load_segments(data, policy.sample_rate, policy.segment_seconds, policy.n_segments, policy.limits)
        query_track = encoder.embed_tracks([seg.segments])[0]
        query_clips = l2_normalise(encoder.embed_segments(seg.segments))
        best = np.full(len(paths), -np.inf)
        np.maximum.at(best, owner, (query_clips @ flat.T).max(axis=0))
        rows.append(
            {
                "target": target,
                "offset_s": round(offset, 2),
                "rank_whole_track": rank_of(whole @ query_track, target),
                "rank_best_segment": rank_of(best, target),
            }
        )
    out: dict[str, Any] = {"encoder_id": encoder.encoder_id, "library": len(paths), "queries": len(rows)}
    for rule in ("whole_track", "best_segment"):
        ranks = np.array([r[f"rank_{rule}"] for r in rows])
        out[rule] = {
            "top1": float((ranks == 1).mean()),
            "top10": float((ranks <= 10).mean()),
            "median_rank": float(np.median(ranks)),
        }
    out.update(
        excerpt_seconds=seconds, query_rate=rate, library_clips_max=max(dense, policy.n_segments),
        codec="MP3 (LAME via libsndfile), constant bitrate, mono",
        mp3_kbps_mean=round(float(np.mean(bitrates)), 1), library_embed_seconds=round(library_seconds, 1),
        rows=rows,
    )  # fmt: skip
    return out


@app.command(cls=Command, help=__doc__)
def main(
    fma: Annotated[Path, typer.Option("--fma", help="a catalog (the synthetic corpus)")],
    encoder_spec: Annotated[str, typer.Option("--encoder")] = "musicnn",
    extra: Annotated[list[Path] | None, typer.Option("--extra", help="more library audio files (real)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="first N catalog tracks only")] = None,
    n_queries: Annotated[int, typer.Option("--queries")] = 50,
    seconds: Annotated[float, typer.Option("--seconds", help="excerpt length")] = 6.0,
    rate: Annotated[int, typer.Option("--query-rate", help="excerpt sample rate")] = 22_050,
    level: Annotated[float, typer.Option("--mp3-level", help="libsndfile compression level 0..1")] = 0.5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[int, typer.Option("--threads")] = 2,
    dense: Annotated[int, typer.Option("--library-clips", help="clip vectors stored per track (at most)")] = 3,
    out: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """Build the library, query excerpts, print the top-1 rates."""
    from embedding.encoders import load_encoder
    from museed.catalog import load_catalog

    torch.set_num_threads(threads)
    encoder = load_encoder(encoder_spec, device="cpu")
    paths = [p for p in load_catalog(fma, scan_unlisted=False).audio_paths().values() if p][:limit]
    paths += [str(p) for p in extra or []]
    rng = np.random.default_rng(seed)
    real = list(range(len(paths) - len(extra or []), len(paths)))
    pool = real if real else list(range(len(paths)))
    queries = sorted(rng.choice(pool, min(n_queries, len(pool)), replace=False).tolist())
    result = run(encoder, paths, queries, seconds, rate, level, seed, dense)
    result.update(fma=str(fma), machine_load_1min=round(Machine.now().load[0], 2))
    for rule in ("whole_track", "best_segment"):
        print(f"{encoder.encoder_id} {rule}: top-1 {result[rule]['top1']:.3f}, top-10 {result[rule]['top10']:.3f}")
    print(f"library {result['library']}, {result['queries']} queries, MP3 ~{result['mp3_kbps_mean']} kbit/s")
    if out is not None:
        write_json(out, result)
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    app()
