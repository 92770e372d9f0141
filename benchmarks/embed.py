"""Benchmark: the Ray Data embedding job vs the plain single-process loop on the same tracks, in one run.

    python -m benchmarks.embed --tracks 120 --seconds 10 --actors 2 --threads 1

Prints tracks/s of each engine and their ratio, the decode share of the time, and the peak resident memory
of the driver plus every process it started (Ray's raylet, GCS and workers included). With several
`--tracks` values the Ray job is run once per size, to show its memory does not grow with the track count.

    python -m benchmarks.embed --gpu-road

instead measures what docs/EMBEDDING.md needs: the parameters and FLOPs of one 10-s clip through the MuQ-large
architecture (random weights, same shapes as OpenMuQ/MuQ-large-msd-iter) with torch's FLOP counter, its CPU
time here, and the decode + resample cost per track of full-length MP3s under the default segment policy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from benchmarks.common import Command, load_text
from embedding.job import SegmentPolicy, catalog_tracks, embed_plain
from museed.catalog import load_catalog
from museed.settings import Settings
from synth import synthesize_corpus

app = typer.Typer(add_completion=False)

CPUS = os.cpu_count() or 1
WORKDIR = Path(tempfile.gettempdir()) / "museed-bench-embed"
TracksOpt = Annotated[list[int], typer.Option("--tracks", help="corpus sizes (largest also for plain)")]


def _descendants(root: int) -> list[int]:
    """`root` and every process below it, from /proc (psutil is not a dependency)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited between listing and reading
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the RSS of this process and all its descendants every `interval` seconds; keeps the peak."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        return sum(_rss(pid) for pid in _descendants(os.getpid()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Rate:
    """Progress callback that remembers when the first and last batch arrived (steady-state rate)."""

    def __init__(self) -> None:
        self.points: list[tuple[float, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.points.append((time.perf_counter(), done))

    def steady(self) -> float:
        """Tracks/s between the first and the last batch (excludes start-up and the first batch)."""
        if len(self.points) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self.points[0], self.points[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


def ceiling(workdir: Path, n: int, seconds: float, encoder_spec: str, batch: int, policy: SegmentPolicy) -> None:
    """The most any 2-core engine can gain over the plain loop, from the loop's own parts measured in isolation:
    decode d (one core), encode with 1 torch thread e1 and with 2 threads e2 (per track, batches of `batch`).
    Plain loop: d + e2 per track. A perfect pipeline keeps both cores busy with the cheapest CPU work:
    (d + min(e1, 2 e2)) / 2 per track. Ceiling = ratio of the two (no scheduling or transfer cost at all)."""
    import torch

    from embedding.audio import load_segments
    from embedding.encoders import load_encoder

    corpus = workdir / f"corpus-{n}x{seconds:g}"
    if not (corpus / "synth_report.json").exists():
        synthesize_corpus(corpus, tracks=n, seconds=seconds, seed=11, workers=os.cpu_count())
    tracks = [t for t in catalog_tracks(load_catalog(corpus)) if t.path][:n]
    settings = Settings(segment_seconds=policy.segment_seconds, segments_per_track=policy.n_segments)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    clips = [
        load_segments(
            Path(str(t.path)), sample_rate=24_000, segment_seconds=policy.segment_seconds, n_segments=policy.n_segments
        ).segments
        for t in tracks
    ]
    d = (time.perf_counter() - t0) / len(tracks)
    encoder = load_encoder(encoder_spec, settings=settings, batch_size=batch)
    per_track = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        encoder.embed_tracks(clips[:batch])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(clips), batch):
            encoder.embed_tracks(clips[i : i + batch])
        per_track[threads] = (time.perf_counter() - t0) / len(clips)
    e1, e2 = per_track[1], per_track[2]
    plain = d + e2
    best = (d + min(e1, 2 * e2)) / 2
    print(
        f"{len(tracks)} tracks x {seconds:g} s, encoder {encoder_spec}: decode {1000 * d:.1f} ms/track (1 core), "
        f"encode {1000 * e1:.1f} ms/track (1 thread), {1000 * e2:.1f} ms/track (2 threads); load {load_text()}"
    )
    print(
        f"plain loop {1000 * plain:.1f} ms/track ({1 / plain:.1f} tracks/s); perfect 2-core pipeline "
        f"{1000 * best:.1f} ms/track ({1 / best:.1f} tracks/s): ceiling {plain / best:.2f}x over the plain loop"
    )


def gpu_road(workdir: Path) -> None:
    """FLOPs of MuQ-large per 10-s clip, and the decode cost per full-length track (3 x 10-s clips)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from embedding.audio import load_segments
    from embedding.encoders import build_small_muq

    torch.manual_seed(0)
    # MuQConfig's defaults are MuQ-large: conv_dim 512, encoder_dim 1024, 12 conformer layers, 16 heads
    model = build_small_muq(0, encoder_dim=1024, depth=12, conv_dim=512, num_heads=16, codebook_size=4096)
    params = sum(p.numel() for p in model.parameters())
    clip = torch.randn(1, 240_000) * 0.1
    with torch.inference_mode():
        model(clip, output_hidden_states=True)  # warm-up
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(clip, output_hidden_states=True)
        t0 = time.perf_counter()
        model(clip, output_hidden_states=True)
        cpu_seconds = time.perf_counter() - t0
    frames = out.hidden_states[-1].shape[1]
    flops = counter.get_total_flops()
    by_module = counter.get_flop_counts()
    print(f"MuQ-large architecture: {params / 1e6:.0f} M parameters, {frames} frames per 10-s clip")
    print(f"FLOPs per 10-s clip: {flops / 1e9:.1f} GFLOP (torch FlopCounterMode: matmul/conv/attention)")
    for name in sorted(by_module, key=lambda k: -sum(by_module[k].values()))[:6]:
        print(f"  {name}: {sum(by_module[name].values()) / 1e9:.1f} GFLOP")
    print(f"CPU forward here: {cpu_seconds:.2f} s per clip ({torch.get_num_threads()} threads), load {load_text()}")

    corpus = workdir / "long-tracks"
    if not (corpus / "synth_report.json").exists():
        synthesize_corpus(corpus, tracks=4, seconds=240.0, seed=3, workers=2)
    paths = [t.path for t in catalog_tracks(load_catalog(corpus)) if t.path]
    times = []
    for _ in range(3):
        for path in paths:
            t0 = time.perf_counter()
            load_segments(Path(path), sample_rate=24_000, segment_seconds=10.0, n_segments=3)
            times.append(time.perf_counter() - t0)
    times.sort()
    print(
        "decode + resample, 240-s 128 kbit/s MP3 -> 3 x 10-s clips at 24 kHz: "
        f"median {1000 * times[len(times) // 2]:.0f} ms per track on one core "
        f"(min {1000 * times[0]:.0f}, max {1000 * times[-1]:.0f}), load {load_text()}"
    )


@app.command(cls=Command, help=__doc__)
def main(
    track_sizes: TracksOpt = [120],  # noqa: B006 (typer copies it, nothing mutates it)
    seconds: Annotated[float, typer.Option("--seconds", help="length of each synthetic track")] = 10.0,
    segment_seconds: Annotated[float, typer.Option("--segment-seconds")] = 5.0,
    segments: Annotated[int, typer.Option("--segments")] = 2,
    encoder_spec: Annotated[str, typer.Option("--encoder")] = "small:0",
    actors: Annotated[int, typer.Option("--actors", help="encoder actors of the Ray job")] = 2,
    threads: Annotated[int, typer.Option("--threads", help="torch threads per actor")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 8,
    plain_threads: Annotated[int, typer.Option("--plain-threads", help="torch threads, plain loop")] = CPUS,
    workdir: Annotated[Path, typer.Option("--workdir")] = WORKDIR,
    skip_plain: Annotated[bool, typer.Option("--skip-plain")] = False,
    gpu_road_: Annotated[bool, typer.Option("--gpu-road", help="FLOPs of MuQ-large and decode cost per track")] = False,
    ceiling_: Annotated[
        bool, typer.Option("--ceiling", help="the largest speed-up any 2-core engine could reach over the loop")
    ] = False,
) -> None:
    """The Ray job against the plain loop (or, with a flag, the GPU road or the 2-core ceiling); prints figures."""
    if gpu_road_:
        gpu_road(workdir)
        return
    if ceiling_:
        policy = SegmentPolicy(segment_seconds=segment_seconds, n_segments=segments)
        ceiling(workdir, max(track_sizes), seconds, encoder_spec, batch_size, policy)
        return

    import ray
    import torch

    from embedding.encoders import load_encoder
    from embedding.ray_job import embed_ray, init_ray

    sizes = sorted(track_sizes)
    corpus = workdir / f"corpus-{sizes[-1]}x{seconds:g}"
    if not (corpus / "synth_report.json").exists():
        synthesize_corpus(corpus, tracks=sizes[-1], seconds=seconds, seed=11, workers=os.cpu_count())
    all_tracks = catalog_tracks(load_catalog(corpus))
    settings = Settings(segment_seconds=segment_seconds, segments_per_track=segments)
    policy = SegmentPolicy(segment_seconds=segment_seconds, n_segments=segments)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} rev {rev}, {os.cpu_count()} cores, encoder {encoder_spec}, "
        f"{seconds:g}-s tracks, {segments} x {segment_seconds:g}-s clips, load {load_text()}"
    )
    results: dict[str, Any] = {}

    if not skip_plain:
        n = sizes[-1]
        out = workdir / "plain"
        shutil.rmtree(out, ignore_errors=True)
        torch.set_num_threads(plain_threads)
        with PeakRss() as mem:
            t0 = time.perf_counter()
            encoder = load_encoder(encoder_spec, settings=settings, batch_size=batch_size)
            rep = embed_plain(all_tracks[:n], encoder, out, policy=policy, batch_tracks=batch_size)
            wall = time.perf_counter() - t0
        results["plain"] = rep.done / wall
        print(
            f"plain  n={n}: {rep.done} done, {rep.failed} failed, {rep.done / wall:.2f} tracks/s "
            f"(wall {wall:.1f} s incl. encoder load), decode {rep.decode_seconds:.1f} s = "
            f"{100 * rep.decode_seconds / wall:.0f} % of wall, peak RSS {mem.peak / 2**20:.0f} MiB, "
            f"{plain_threads} torch threads, load {load_text()}"
        )

    t0 = time.perf_counter()
    init_ray()
    ray_init = time.perf_counter() - t0
    print(f"ray.init (local, {os.cpu_count()} CPUs): {ray_init:.1f} s")
    try:
        for n in sizes:
            out = workdir / f"ray-{n}"
            shutil.rmtree(out, ignore_errors=True)
            rate = Rate()
            with PeakRss() as mem:
                t0 = time.perf_counter()
                rep = embed_ray(
                    all_tracks[:n],
                    encoder_spec,
                    out,
                    policy,
                    settings=settings,
                    concurrency=actors,
                    torch_threads=threads,
                    batch_size=batch_size,
                    progress=rate,
                )
                wall = time.perf_counter() - t0
            results[f"ray-{n}"] = rep.done / wall
            print(
                f"ray    n={n}: {rep.done} done, {rep.failed} failed, {rep.done / wall:.2f} tracks/s "
                f"(wall {wall:.1f} s incl. actor start-up; steady {rate.steady():.2f} tracks/s), "
                f"decode {rep.decode_seconds:.1f} task-s = {100 * rep.decode_seconds / wall:.0f} % of wall, "
                f"peak RSS {mem.peak / 2**20:.0f} MiB (driver + Ray processes), {actors} actors x "
                f"{threads} threads, load {load_text()}"
            )
    finally:
        ray.shutdown()
    if "plain" in results:
        n = sizes[-1]
        print(f"ratio ray/plain at n={n}: {results[f'ray-{n}'] / results['plain']:.2f}x")


if __name__ == "__main__":
    app()
