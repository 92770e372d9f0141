"""Throughput of the synthetic FMA corpus (tracks/s) and where a track's time goes (render vs MP3 encode).

python -m benchmarks.synth                                  # 200 tracks x 10 s, all cores
python -m benchmarks.synth --tracks 60 --seconds 10 --workers 1 --sample 10
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.common import Command, Machine
from synth import encode_mp3, plan_corpus, render_track, synthesize_corpus

app = typer.Typer(add_completion=False)


def _split(tracks: int, seconds: float, seed: int, sample: int, scratch: Path) -> tuple[list[float], list[float]]:
    """Render and encode `sample` tracks spread over the corpus in this process, timing each step."""
    plans = plan_corpus(tracks, seed)
    step = max(1, len(plans) // sample)
    render_s, encode_s = [], []
    for plan in plans[::step][:sample]:
        t0 = time.perf_counter()
        audio = render_track(plan, seconds)
        t1 = time.perf_counter()
        encode_mp3(scratch / f"{plan.track_id}.mp3", audio)
        render_s.append(t1 - t0)
        encode_s.append(time.perf_counter() - t1)
    return render_s, encode_s


@app.command(cls=Command, help=__doc__)
def main(
    tracks: Annotated[int, typer.Option("--tracks")] = 200,
    seconds: Annotated[float, typer.Option("--seconds")] = 10.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", help="processes (default: all cores)")] = None,
    sample: Annotated[int, typer.Option("--sample", help="tracks timed one by one for the split")] = 20,
) -> None:
    """Run the benchmark and print one JSON line with the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        out = Path(tmp) / "fma"
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 2.0 or done == total:
                last[0] = time.perf_counter()
                print(f"  {done}/{total}", file=sys.stderr)

        report = synthesize_corpus(out, tracks=tracks, seconds=seconds, seed=seed, workers=workers, progress=progress)
        scratch = Path(tmp) / "split"
        scratch.mkdir()
        render_s, encode_s = _split(tracks, seconds, seed, sample, scratch)

    machine = Machine.now()
    cores = workers or machine.cpus or 1
    render_ms = 1000 * statistics.mean(render_s)
    encode_ms = 1000 * statistics.mean(encode_s)
    result = {
        "tracks": report.tracks,
        "seconds": report.seconds,
        "workers": cores,
        "wall_seconds": round(report.wall_seconds, 2),
        "tracks_per_second": round(report.tracks_per_second, 2),
        "render_ms_per_track": round(render_ms, 1),
        "encode_ms_per_track": round(encode_ms, 1),
        "encode_share": round(encode_ms / (render_ms + encode_ms), 2),
        # what the cores could do if nothing else ran: cores / CPU time per track
        "cpu_bound_tracks_per_second": round(cores * 1000 / (render_ms + encode_ms), 2),
        "load_average_1min": round(machine.load[0], 2),
        "python": machine.python,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    app()
