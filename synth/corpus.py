"""The corpus job: `synthesize_corpus` plans a corpus, writes its metadata and renders and encodes its
tracks (in-process or in worker processes, resumably), and `SynthReport` says what it did. `encode_mp3`
writes one track."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import lameenc
import numpy as np

from museed.parallel import pool_context
from synth.dsp import _SR
from synth.metadata import write_genres_csv, write_ground_truth, write_tracks_csv
from synth.plan import TrackPlan, plan_corpus
from synth.render import render_track


@dataclass
class SynthReport:
    """What `synthesize_corpus` did."""

    out: Path
    tracks: int
    seconds: float
    seed: int
    wall_seconds: float
    genre_counts: dict[str, int]
    artists: int

    @property
    def tracks_per_second(self) -> float:
        """Throughput of the whole run (rendering, encoding and metadata)."""
        return self.tracks / self.wall_seconds if self.wall_seconds > 0 else 0.0


# CBR 128 kbit/s mono keeps the full 44.1 kHz band (~16 kHz lowpass); libsndfile's writer exposes no LAME speed
# setting and took ~80 % of a track's CPU time, hence lameenc.
_MP3_KBPS: Final = 128


def encode_mp3(path: Path, audio: np.ndarray) -> None:
    """Write `audio` as a 44.1 kHz 128 kbit/s MP3 with LAME (atomically: a crash never leaves a partial file)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(_MP3_KBPS)
    encoder.set_in_sample_rate(_SR)
    encoder.set_channels(1)
    # LAME -q 5: its default speed/quality trade-off, ~2.5x faster than libsndfile's MP3 writer at this rate
    encoder.set_quality(5)
    data = encoder.encode(pcm.tobytes()) + encoder.flush()
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)


def _render_chunk(jobs: Sequence[tuple[TrackPlan, float, str]]) -> list[tuple[int, float, float]]:
    return [_render_one(job) for job in jobs]


def _render_one(job: tuple[TrackPlan, float, str]) -> tuple[int, float, float]:
    plan, seconds, root = job
    t0 = time.perf_counter()
    audio = render_track(plan, seconds)
    t1 = time.perf_counter()
    path = Path(root) / plan.relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_mp3(path, audio)
    return plan.track_id, t1 - t0, time.perf_counter() - t1


# ------------------------------------------------------------------------------------------------ the job


def synthesize_corpus(
    out: Path,
    tracks: int = 300,
    seconds: float = 10.0,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SynthReport:
    """Write a synthetic FMA corpus under `out/` and return what was done.

    Writes `fma_full/AAA/TTTTTT.mp3`, `fma_metadata/{tracks,genres}.csv`, `synth_ground_truth.csv` and
    `synth_report.json`. Deterministic in `seed` whatever `workers` is (None = one per CPU; 1 = in-process).
    Resumable: a rerun with the same parameters keeps the MP3s already written. `progress(done, total)` is
    called as tracks finish.
    """
    if tracks < 1:
        raise ValueError("tracks must be >= 1")
    if not 0.5 <= seconds <= 600:
        raise ValueError("seconds must be between 0.5 and 600")
    started = time.perf_counter()
    out = Path(out)
    audio_root = out / "fma_full"
    meta = out / "fma_metadata"
    audio_root.mkdir(parents=True, exist_ok=True)
    meta.mkdir(parents=True, exist_ok=True)

    plans = plan_corpus(tracks, seed)
    write_tracks_csv(meta / "tracks.csv", plans, seconds)
    write_genres_csv(meta / "genres.csv", plans)
    write_ground_truth(out / "synth_ground_truth.csv", plans)

    # resume only when the existing audio was made with the same parameters
    params = {"tracks": tracks, "seconds": float(seconds), "seed": seed}
    params_path = out / ".synth_params.json"
    if not (params_path.exists() and json.loads(params_path.read_text()) == params):
        for plan in plans:  # audio of another corpus at our paths must not pass for ours on a later resume
            (audio_root / plan.relative_path).unlink(missing_ok=True)
        params_path.write_text(json.dumps(params))
    todo = [p for p in plans if not (audio_root / p.relative_path).exists()]
    done = len(plans) - len(todo)
    if progress:
        progress(done, len(plans))

    jobs = [(p, float(seconds), str(audio_root)) for p in todo]
    n_workers = max(1, min(workers if workers is not None else (os.cpu_count() or 1), len(jobs)))
    if n_workers == 1:
        for job in jobs:
            _render_one(job)
            done += 1
            if progress:
                progress(done, len(plans))
    else:
        size = max(1, min(4, len(jobs) // (n_workers * 4)))  # small chunks keep the progress bar moving
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        # a forkserver preloads the module of the workers (`_render_chunk`), and with it the whole package
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=pool_context(["synth.corpus"])) as pool:
            futures = [pool.submit(_render_chunk, chunk) for chunk in chunks]
            try:
                for future in as_completed(futures):
                    done += len(future.result())
                    if progress:
                        progress(done, len(plans))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # stop quickly on an error or Ctrl-C
                raise

    report = SynthReport(
        out=out,
        tracks=len(plans),
        seconds=float(seconds),
        seed=seed,
        wall_seconds=time.perf_counter() - started,
        genre_counts=dict(Counter(p.genre_top for p in plans).most_common()),
        artists=len({p.artist_id for p in plans}),
    )
    payload = {**asdict(report), "out": str(out), "tracks_per_second": report.tracks_per_second}
    (out / "synth_report.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return report
