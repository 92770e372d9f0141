"""Vector index benchmark: FAISS-tuned IVF-PQ on a real Milvus 2.3.5 server vs exact FAISS flat search.

Data: SYNTHETIC clustered unit vectors (not encoder output): 16 genres with Zipf-like sizes (so one is rare),
artists of ~10 tracks each, track = genre centre + artist offset + track noise, L2-normalised. Queries are new
tracks by existing artists, never inserted. Both engines see the same vectors and queries in the same run.

    flock /tmp/museed-bench.lock python scripts/bench_index.py --n 90000 --dim 512

Prints a markdown table (recall@10 and ms/query, unfiltered / common genre / rare genre) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from embedding.store import VectorSet, VectorSetManifest
from indexing.faiss_tuning import recall_at_k, tune_ivf_pq
from indexing.milvus_index import TrackIndex, build_filter

N_GENRES = 16


def synthetic_tracks(
    n: int, n_queries: int, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(base vectors, base genre ids, query vectors, query genre ids) of hierarchical clustered unit vectors."""
    rng = np.random.default_rng(seed)
    sizes = 1.0 / np.arange(1, N_GENRES + 1) ** 1.1  # Zipf-like: the rarest genre holds ~1.5 % of tracks
    p_genre = sizes / sizes.sum()
    n_artists = max(1, n // 10)
    genre_centres = rng.normal(size=(N_GENRES, dim)) / np.sqrt(dim)
    artist_genre = rng.choice(N_GENRES, size=n_artists, p=p_genre)
    artist_centres = genre_centres[artist_genre] + 0.6 * rng.normal(size=(n_artists, dim)) / np.sqrt(dim)

    def tracks(count: int) -> tuple[np.ndarray, np.ndarray]:
        artist = rng.integers(0, n_artists, size=count)
        x = artist_centres[artist] + 0.35 * rng.normal(size=(count, dim)) / np.sqrt(dim)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), artist_genre[artist]

    base, base_genre = tracks(n)
    queries, query_genre = tracks(n_queries)
    return base, base_genre, queries, query_genre


def start_server(base_dir: str) -> tuple[Any, str]:
    """A Milvus 2.3.5 standalone server (the `milvus` PyPI package) on a free port."""
    from milvus import MilvusServer

    server = MilvusServer()
    server.set_base_dir(base_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server.listen_port = port
    server.start()
    return server, f"http://127.0.0.1:{port}"


def time_per_query(fn: Any, queries: np.ndarray) -> tuple[np.ndarray, float]:
    """Run `fn(one_query) -> ids` for each query in turn; (ids, mean ms/query)."""
    out = []
    t0 = time.perf_counter()
    for q in queries:
        out.append(fn(q))
    return np.array(out), (time.perf_counter() - t0) * 1000 / len(queries)


def main() -> None:
    """Tune, build, measure, print."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=90_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--recall-target", type=float, default=0.95)
    ap.add_argument("--nlists", type=str, default="", help="comma list (default: 4*sqrt(N), 8*sqrt(N), 16*sqrt(N))")
    ap.add_argument("--ms", type=str, default="", help="comma list (default: dim/8, dim/4, dim/2)")
    ap.add_argument("--train-size", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads (1: steady under a shared load)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extend-m", action="store_true", help="try m = dim when no scanned m reaches the target (slow)")
    ap.add_argument("--out", type=Path, default=Path("data/bench/index.json"))
    args = ap.parse_args()
    faiss.omp_set_num_threads(args.threads)
    k = 10
    started = time.perf_counter()
    # a large pool of new tracks: filtered rows query with tracks of the filtered genre (seeds of that genre)
    base, genre, pool, pool_genre = synthetic_tracks(args.n, max(args.queries * 80, 16_000), args.dim, args.seed)
    queries = pool[: args.queries]
    counts = np.bincount(genre, minlength=N_GENRES)
    common, rare = int(np.argmax(counts)), int(np.argmin(counts))
    names = {g: f"genre{g:02d}" for g in range(N_GENRES)}
    print(
        f"data: {args.n} x {args.dim}; common genre {names[common]} {counts[common]}, rare {names[rare]} {counts[rare]}"
    )
    query_sets = {
        "none": queries,
        "common": pool[pool_genre == common][: args.queries],
        "rare": pool[pool_genre == rare][: args.queries],
    }

    # 1. FAISS tuning on the base vectors (its own held-out queries)
    def csv(text: str) -> list[int] | None:
        return [int(v) for v in text.split(",")] if text else None

    t0 = time.perf_counter()
    tuned = tune_ivf_pq(
        base,
        recall_target=args.recall_target,
        k=k,
        nlists=csv(args.nlists),
        ms=csv(args.ms),
        train_size=args.train_size,
        vector_set_id=f"synthetic-{args.n}x{args.dim}-seed{args.seed}",
        log=lambda line: print(line, flush=True),
        extend_m=args.extend_m,
    )
    tune_s = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tuned.write(args.out.with_name("index_plan.json"))
    print(
        f"tuned in {tune_s:.0f} s: nlist={tuned.nlist} m={tuned.m} nbits={tuned.nbits} nprobe={tuned.nprobe} "
        f"FAISS recall@10={tuned.recall:.3f} meets_target={tuned.meets_target}",
        flush=True,
    )

    # 2. exact FAISS flat: truth and the latency baseline (one query at a time, like a serving request)
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(base)
    subsets = {"none": None, "common": common, "rare": rare}
    exact: dict[str, dict[str, Any]] = {}
    for label, g in subsets.items():
        if g is None:
            ids, ms_q = time_per_query(lambda q: flat.search(q[None, :], k)[1][0], query_sets[label])
        else:
            sel = faiss.IDSelectorBatch(np.flatnonzero(genre == g).astype(np.int64))
            params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
            ids, ms_q = time_per_query(
                lambda q, p=params: flat.search(q[None, :], k, params=p)[1][0], query_sets[label]
            )
        exact[label] = {"ids": ids, "ms": ms_q}
        print(f"FAISS flat exact, filter={label}: {ms_q:.2f} ms/query", flush=True)
    t_b = time.perf_counter()
    flat.search(queries, k)
    flat_batch_ms = (time.perf_counter() - t_b) * 1000 / len(queries)

    # 3. Milvus server IVF-PQ with the tuned plan
    track_ids = np.arange(1, args.n + 1, dtype=np.int64)
    vs = VectorSet(
        manifest=VectorSetManifest(encoder_id="synthetic", config_hash="0" * 64, dim=args.dim),
        track_ids=track_ids,
        vectors=base,
        n_segments=np.ones(args.n, dtype=np.int32),
        duration_seconds=np.full(args.n, 30.0, dtype=np.float32),
    )
    meta = {int(t): {"genre_top": names[int(g)], "artist_id": -1} for t, g in zip(track_ids, genre, strict=True)}
    plan = tuned.index_plan()
    tmp = tempfile.mkdtemp(prefix="museed-bench-milvus-")
    server, uri = start_server(tmp)
    results: dict[str, dict[str, float]] = {}
    try:
        index = TrackIndex(uri, alias="bench")
        t0 = time.perf_counter()
        name = index.build(vs, meta, plan=plan, sample_queries=50)
        build_s = time.perf_counter() - t0
        desc = index.client.describe_index(collection_name=name, index_name="vector")
        print(f"Milvus build {build_s:.0f} s (insert+flush+index+load+verify); describe_index: {desc}", flush=True)
        search_params = plan.search_params()

        def milvus_search(q: np.ndarray, expr: str) -> list[int]:
            res = index.client.search(
                collection_name=index.alias,
                data=[q.tolist()],
                limit=k,
                filter=expr,
                anns_field="vector",
                search_params=search_params,
                output_fields=[],
                consistency_level="Bounded",
            )[0]
            ids = [int(h.get("id", h.get("track_id"))) - 1 for h in res]  # track id -> row
            return ids + [-1] * (k - len(ids))

        for q in queries[:20]:  # warm-up: segment load, caches
            milvus_search(q, "")
            milvus_search(q, build_filter(genre=names[rare]))
        for label, g in subsets.items():
            expr = "" if g is None else build_filter(genre=names[g])
            ids, ms_q = time_per_query(lambda q, e=expr: milvus_search(q, e), query_sets[label])
            truth = exact[label]["ids"]
            results[label] = {
                "milvus_recall": recall_at_k(ids, truth, k),
                "milvus_ms": ms_q,
                "flat_ms": exact[label]["ms"],
                "speedup": exact[label]["ms"] / ms_q,
            }
            print(f"Milvus IVF_PQ filter={label}: recall@10 {results[label]['milvus_recall']:.3f} {ms_q:.2f} ms/query")
        index.client.drop_collection(name)
        index.close()
    finally:
        server.stop()
    load = os.getloadavg()
    summary = {
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "plan": {k_: v for k_, v in tuned.to_json().items() if k_ != "operating_points"},
        "operating_points": tuned.to_json()["operating_points"],
        "tune_seconds": tune_s,
        "milvus_build_seconds": build_s,
        "flat_batch_ms_per_query": flat_batch_ms,
        "faiss_threads": args.threads,
        "results": results,
        "loadavg": load,
        "total_seconds": time.perf_counter() - started,
    }
    args.out.write_text(json.dumps(summary, indent=2, default=float) + "\n", encoding="utf-8")
    print()
    print("| filter | Milvus IVF_PQ recall@10 | Milvus ms/query | FAISS flat ms/query | speed-up |")
    print("|---|---|---|---|---|")
    for label, r in results.items():
        tag = {"none": "none", "common": f"common ({counts[common]} tracks)", "rare": f"rare ({counts[rare]} tracks)"}
        print(
            f"| {tag[label]} | {r['milvus_recall']:.3f} | {r['milvus_ms']:.2f} | {r['flat_ms']:.2f} | "
            f"{r['speedup']:.1f}x |"
        )
    print(f"FAISS flat batched (200 queries, {args.threads} thread(s)): {flat_batch_ms:.2f} ms/query; load {load}")


if __name__ == "__main__":
    main()
