"""Vector index benchmark: the serving path (IVF_PQ with a small m + in-process re-rank from an int8 store, small
filters searched exactly) on a real Milvus 2.3.5 server, against exact FAISS flat and the server's request floor.

Data: SYNTHETIC clustered unit vectors (not encoder output): 16 genres with Zipf-like sizes (so one is rare),
artists of ~10 tracks each, track = genre centre + artist offset + track noise, L2-normalised. Queries are new
tracks by existing artists, never inserted. Every engine sees the same vectors and queries in the same run.

    flock /tmp/museed-bench.lock python -m benchmarks.index --n 90000 --dim 512
    flock /tmp/museed-bench.lock python -m benchmarks.index --n 1000000 --dim 512 --out data/bench/index-1m.json

Stages (each prints as it ends; the JSON is rewritten after each, so a stopped run keeps what it measured):
tuning (FAISS, on a Milvus segment's worth of rows, recall after re-rank), exact FAISS flat (1 thread, one query
at a time, filters as an IDSelector), the store's exact scan by row count, the server's floor (100-row FLAT
collection, Bounded), the build, then `TrackIndex.search` (what the API calls) per filter, with the nprobe
checked on the server. Prints markdown tables.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import faiss
import numpy as np
import typer
from pymilvus import MilvusClient, connections, utility

from benchmarks.common import (
    N_GENRES,
    Command,
    Machine,
    start_server,
    synthetic_tracks,
    write_json,
)
from benchmarks.milvus_floor import flat_collection
from indexing.compact import CompactStore
from indexing.faiss_tuning import recall_at_k, tune_ivf_pq
from indexing.milvus_index import IndexPlan, SearchFilters, TrackIndex
from indexing.plan import segment_rows
from museed.vectorset import VectorSet, VectorSetManifest

app = typer.Typer(add_completion=False)
K = 10
#: row counts at which the store's exact scan is timed (where it crosses the floor sets EXACT_MAX_ROWS)
SCAN_ROWS = (1_000, 2_000, 5_000, 10_000, 20_000)


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def timed(fn: Any, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Run `fn(one_query) -> ids` per query in turn: (ids, mean ms, median ms). The median is the figure compared
    across paths: on cores shared with other jobs a few stalled queries swing the mean."""
    out, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        out.append(fn(q))
        times.append((time.perf_counter() - t0) * 1000)
    return np.array(out), float(np.mean(times)), float(np.median(times))


def exact_flat(
    base: np.ndarray, genre: np.ndarray, query_sets: dict[str, np.ndarray], subsets: dict[str, int | None]
) -> dict[str, dict[str, Any]]:
    """Exact FAISS IndexFlatIP, one query at a time (the thread count set by the caller): ids and median ms per
    filter."""
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    out: dict[str, dict[str, Any]] = {}
    for label, g in subsets.items():
        if g is None:
            ids, _, ms_q = timed(lambda q: flat.search(q[None, :], K)[1][0], query_sets[label])
        else:
            sel = faiss.IDSelectorBatch(np.flatnonzero(genre == g).astype(np.int64))
            params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
            ids, _, ms_q = timed(lambda q, p=params: flat.search(q[None, :], K, params=p)[1][0], query_sets[label])
        out[label] = {"ids": ids, "ms": ms_q}
        print(f"FAISS flat exact, filter={label}: {ms_q:.2f} ms/query", flush=True)
    return out


def scan_ms(store: CompactStore, query: np.ndarray, seed: int) -> dict[int, float]:
    """ms of the store's exact top-10 over a random set of each SCAN_ROWS size (20 repeats)."""
    rng = np.random.default_rng(seed)
    out = {}
    for rows in (r for r in SCAN_ROWS if r <= len(store)):
        chosen = np.sort(rng.choice(len(store), rows, replace=False))
        t0 = time.perf_counter()
        for _ in range(20):
            store.exact(query, chosen, K)
        out[rows] = (time.perf_counter() - t0) * 1000 / 20
        print(f"compact store exact scan, {rows} rows: {out[rows]:.2f} ms", flush=True)
    return out


@app.command(cls=Command, help=__doc__)
def main(
    n: Annotated[int, typer.Option("--n")] = 90_000,
    dim: Annotated[int, typer.Option("--dim")] = 512,
    queries_n: Annotated[int, typer.Option("--queries")] = 200,
    recall_target: Annotated[float, typer.Option("--recall-target")] = 0.95,
    rerank: Annotated[int, typer.Option("--rerank", help="candidates re-ranked from the int8 store")] = 200,
    nlists: Annotated[
        str, typer.Option("--nlists", help="comma list (default with --rerank: 4*sqrt(segment rows))")
    ] = "",
    ms: Annotated[str, typer.Option("--ms", help="comma list (default with --rerank: dim/8)")] = "",
    tune_rows: Annotated[int, typer.Option("--tune-rows", help="rows tuned on (0: one Milvus segment)")] = 0,
    train_size: Annotated[int, typer.Option("--train-size")] = 50_000,
    exact_max_rows: Annotated[int, typer.Option("--exact-max-rows")] = 5_000,
    threads: Annotated[int, typer.Option("--threads", help="FAISS OpenMP threads (1: steady under a shared load)")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    extend_m: Annotated[
        bool, typer.Option("--extend-m", help="try m = dim when no scanned m reaches the target (slow)")
    ] = False,
    out: Annotated[Path, typer.Option("--out")] = Path("data/bench/index.json"),
) -> None:
    """Tune, measure exact search, build on the server, measure the serving path, print."""
    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    summary: dict[str, Any] = {"n": n, "dim": dim, "queries": queries_n, "rerank": rerank, "faiss_threads": threads}

    def stage(name: str, seconds: float, **facts: Any) -> None:
        summary.setdefault("stages", {})[name] = round(seconds, 1)
        summary.update(facts)
        summary["loadavg"] = Machine.now().load
        write_json(out, summary)
        print(f"[{time.perf_counter() - started:.0f} s] {name}: {seconds:.1f} s", flush=True)

    t0 = time.perf_counter()
    # a large pool of new tracks: filtered rows query with seeds of the filtered genre
    base, genre, pool, pool_genre = synthetic_tracks(n, max(queries_n * 80, 16_000), dim, seed)
    counts = np.bincount(genre, minlength=N_GENRES)
    common, rare = int(np.argmax(counts)), int(np.argmin(counts))
    names = {g: f"genre{g:02d}" for g in range(N_GENRES)}
    subsets: dict[str, int | None] = {"none": None, "common": common, "rare": rare}
    query_sets = {
        "none": pool[:queries_n],
        "common": pool[pool_genre == common][:queries_n],
        "rare": pool[pool_genre == rare][:queries_n],
    }
    sizes = {"none": n, "common": int(counts[common]), "rare": int(counts[rare])}
    stage("data", time.perf_counter() - t0, filter_rows=sizes)

    # 1. FAISS tuning: recall after re-rank, on one segment's worth of rows
    t0 = time.perf_counter()
    tuned = tune_ivf_pq(
        base,
        recall_target=recall_target,
        k=K,
        nlists=[int(v) for v in nlists.split(",")] if nlists else None,
        ms=[int(v) for v in ms.split(",")] if ms else None,
        train_size=train_size,
        vector_set_id=f"synthetic-{n}x{dim}-seed{seed}",
        log=lambda line: print(line, flush=True),
        rerank=rerank,
        tune_rows=tune_rows or segment_rows(dim),
        extend_m=extend_m,
    )
    plan = dataclasses.replace(tuned.index_plan(), exact_max_rows=exact_max_rows)
    print(f"tuned: nlist={tuned.nlist} m={tuned.m} nprobe={tuned.nprobe} recall@10={tuned.recall:.3f} "
          f"on {tuned.tune_rows} rows", flush=True)  # fmt: skip
    stage("tuning", time.perf_counter() - t0, plan={k: v for k, v in tuned.to_json().items()})

    # 2. exact FAISS flat: truth and the latency baseline
    t0 = time.perf_counter()
    exact = exact_flat(base, genre, query_sets, subsets)
    stage("faiss_flat", time.perf_counter() - t0, flat_ms={k: v["ms"] for k, v in exact.items()})

    # 3. Milvus server: floor, build, serving path
    server_dir = tempfile.mkdtemp(prefix="museed-bench-milvus-")
    store_dir = Path(tempfile.mkdtemp(prefix="museed-bench-store-"))
    server, uri = start_server(server_dir)
    pid = server.server_proc.pid
    try:
        client = MilvusClient(uri)
        rng = np.random.default_rng(seed + 1)
        flat_collection(client, "floor_100", 100, dim, rng)
        floor_q = rng.normal(size=(queries_n + 20, dim)).astype(np.float32)

        def floor_search(q: np.ndarray) -> list[int]:
            client.search("floor_100", [q.tolist()], limit=K, consistency_level="Bounded")
            return []

        timed(floor_search, floor_q[:20])  # warm-up
        _, floor_mean, floor = timed(floor_search, floor_q[20:])
        client.drop_collection("floor_100")
        print(f"request floor (100-row FLAT, Bounded): median {floor:.2f} ms, mean {floor_mean:.2f} ms", flush=True)
        rss_before = rss_bytes(pid)
        stage("floor", 0.0, floor_ms=floor, floor_mean_ms=floor_mean)

        track_ids = np.arange(1, n + 1, dtype=np.int64)
        vs = VectorSet(
            manifest=VectorSetManifest(encoder_id="synthetic", config_hash="0" * 64, dim=dim),
            track_ids=track_ids,
            vectors=base,
            n_segments=np.ones(n, dtype=np.int32),
            duration_seconds=np.full(n, 30.0, dtype=np.float32),
        )
        meta = {int(t): {"genre_top": names[int(g)], "artist_id": -1} for t, g in zip(track_ids, genre, strict=True)}
        index = TrackIndex(uri, alias="bench")
        t0 = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30 or done == total:
                last[0] = time.perf_counter()
                print(f"  inserted {done}/{total} ({time.perf_counter() - t0:.0f} s)", flush=True)

        name = index.build(vs, meta, plan=plan, sample_queries=50, store_dir=store_dir, progress=progress)
        stage("milvus_build", time.perf_counter() - t0, milvus_rss_delta_bytes=rss_bytes(pid) - rss_before)
        report = index.describe()
        print(f"served: {report['plan']}; memory: {report['memory']}", flush=True)
        summary["served"] = report

        store = index.compact_store()
        assert store is not None
        scans = scan_ms(store, query_sets["none"][0], seed)
        stage("store_scan", 0.0, scan_ms=scans)

        def serve(q: np.ndarray, label: str, p: IndexPlan) -> list[int]:
            g = subsets[label]
            hits = index.search(q, K, filters=SearchFilters(genre=names[g]) if g is not None else None, plan=p)
            ids = [h.track_id - 1 for h in hits]  # track id -> row
            return ids + [-1] * (K - len(ids))

        # the nprobe on the server: the smallest on a ladder around the tuned one that reaches the target
        # unfiltered (tuning on one segment's sample is pessimistic: a segment only has to return its own share
        # of the global top 10, the nearest few of its rows)
        served_plan = index.current_plan()
        for q in query_sets["none"][:20]:  # warm-up: segment load, caches
            serve(q, "none", served_plan)
        tuned_nprobe, ladder = served_plan.nprobe, []
        for nprobe in sorted({max(1, min(served_plan.nlist, tuned_nprobe * f // 8)) for f in (1, 2, 4, 8, 16, 32)}):
            p = dataclasses.replace(served_plan, nprobe=nprobe)
            ids, _, ms_q = timed(lambda q, p=p: serve(q, "none", p), query_sets["none"])
            ladder.append({"nprobe": p.nprobe, "recall": recall_at_k(ids, exact["none"]["ids"], K), "ms": ms_q})
            print(f"server nprobe {p.nprobe}: recall@10 {ladder[-1]['recall']:.3f} {ms_q:.2f} ms", flush=True)
            served_plan = p
            if ladder[-1]["recall"] >= recall_target:
                break
        stage("server_nprobe", 0.0, server_nprobe=ladder)

        results: dict[str, dict[str, Any]] = {}
        plain = dataclasses.replace(served_plan, rerank=0, exact_max_rows=0)  # IVF_PQ alone, for comparison
        for label in subsets:
            ids, mean_q, ms_q = timed(lambda q, lb=label: serve(q, lb, served_plan), query_sets[label])
            pq_ids, _, pq_ms = timed(lambda q, lb=label: serve(q, lb, plain), query_sets[label])
            truth = exact[label]["ids"]
            results[label] = {
                "recall": recall_at_k(ids, truth, K),
                "ms": ms_q,
                "mean_ms": mean_q,
                "pq_only_recall": recall_at_k(pq_ids, truth, K),
                "pq_only_ms": pq_ms,
                "flat_ms": exact[label]["ms"],
                "path": "exact" if sizes[label] <= exact_max_rows and label != "none" else "ivf_pq+rerank",
            }
            r = results[label]
            print(f"serving filter={label} ({r['path']}): recall@10 {r['recall']:.3f} {ms_q:.2f} ms; "
                  f"IVF_PQ alone {r['pq_only_recall']:.3f} {pq_ms:.2f} ms", flush=True)  # fmt: skip
        connections.connect(alias="bench", uri=uri)
        segments = [int(s.num_rows) for s in utility.get_query_segment_info(name, using="bench")]
        print(f"served segments: {len(segments)} {segments}", flush=True)
        stage("serving", 0.0, results=results, segments=segments)
        index.client.drop_collection(name)
        index.close()
    finally:
        server.stop()
        shutil.rmtree(server_dir, ignore_errors=True)
        shutil.rmtree(store_dir, ignore_errors=True)
    print_tables(summary, floor, sizes)
    stage("total", time.perf_counter() - started)


def print_tables(summary: dict[str, Any], floor: float, sizes: dict[str, int]) -> None:
    """The markdown tables of a finished run."""
    n, results, mem = summary["n"], summary["results"], summary["served"]["memory"]
    print(f"\nN = {n}, dim {summary['dim']}, request floor {floor:.2f} ms (100-row FLAT, Bounded; medians)\n")
    print("| filter | rows | path | recall@10 | ms/query | x floor | IVF_PQ alone recall | FAISS flat ms | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        print(
            f"| {label} | {sizes[label]} | {r['path']} | {r['recall']:.3f} | {r['ms']:.2f} | {r['ms'] / floor:.2f} | "
            f"{r['pq_only_recall']:.3f} | {r['flat_ms']:.2f} | {r['flat_ms'] / r['ms']:.1f}x |"
        )
    print(
        f"\nmemory: PQ codes {mem['index_vector_bytes'] / 2**20:.1f} MiB + int8 store "
        f"{mem['compact_store_bytes'] / 2**20:.1f} MiB = {mem['share_of_raw']:.1%} of raw float32 "
        f"{mem['raw_float32_bytes'] / 2**20:.1f} MiB; stages (s): {summary['stages']}; pid {os.getpid()}"
    )


if __name__ == "__main__":
    app()
