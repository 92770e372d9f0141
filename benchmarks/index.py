"""Vector index benchmark: FAISS-tuned IVF-PQ on a real Milvus 2.3.5 server vs exact FAISS flat search.

Data: SYNTHETIC clustered unit vectors (not encoder output): 16 genres with Zipf-like sizes (so one is rare),
artists of ~10 tracks each, track = genre centre + artist offset + track noise, L2-normalised. Queries are new
tracks by existing artists, never inserted. Both engines see the same vectors and queries in the same run.

    flock /tmp/museed-bench.lock python -m benchmarks.index --n 90000 --dim 512

Prints a markdown table (recall@10 and ms/query, unfiltered / common genre / rare genre) and writes JSON.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import faiss
import numpy as np
import typer

from benchmarks.common import N_GENRES, Command, Machine, milvus_server, synthetic_tracks, time_per_query, write_json
from indexing.faiss_tuning import recall_at_k, tune_ivf_pq
from indexing.milvus_index import TrackIndex, build_filter
from museed.vectorset import VectorSet, VectorSetManifest

app = typer.Typer(add_completion=False)


@app.command(cls=Command, help=__doc__)
def main(
    n: Annotated[int, typer.Option("--n")] = 90_000,
    dim: Annotated[int, typer.Option("--dim")] = 512,
    queries_n: Annotated[int, typer.Option("--queries")] = 200,
    recall_target: Annotated[float, typer.Option("--recall-target")] = 0.95,
    nlists: Annotated[
        str, typer.Option("--nlists", help="comma list (default: 4*sqrt(N), 8*sqrt(N), 16*sqrt(N))")
    ] = "",
    ms: Annotated[str, typer.Option("--ms", help="comma list (default: dim/8, dim/4, dim/2)")] = "",
    train_size: Annotated[int, typer.Option("--train-size")] = 50_000,
    threads: Annotated[int, typer.Option("--threads", help="FAISS OpenMP threads (1: steady under a shared load)")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    extend_m: Annotated[
        bool, typer.Option("--extend-m", help="try m = dim when no scanned m reaches the target (slow)")
    ] = False,
    out: Annotated[Path, typer.Option("--out")] = Path("data/bench/index.json"),
) -> None:
    """Tune, build, measure, print."""
    faiss.omp_set_num_threads(threads)
    k = 10
    started = time.perf_counter()
    # a large pool of new tracks: filtered rows query with tracks of the filtered genre (seeds of that genre)
    base, genre, pool, pool_genre = synthetic_tracks(n, max(queries_n * 80, 16_000), dim, seed)
    queries = pool[:queries_n]
    counts = np.bincount(genre, minlength=N_GENRES)
    common, rare = int(np.argmax(counts)), int(np.argmin(counts))
    names = {g: f"genre{g:02d}" for g in range(N_GENRES)}
    print(f"data: {n} x {dim}; common genre {names[common]} {counts[common]}, rare {names[rare]} {counts[rare]}")
    query_sets = {
        "none": queries,
        "common": pool[pool_genre == common][:queries_n],
        "rare": pool[pool_genre == rare][:queries_n],
    }

    # 1. FAISS tuning on the base vectors (its own held-out queries)
    def csv(text: str) -> list[int] | None:
        return [int(v) for v in text.split(",")] if text else None

    t0 = time.perf_counter()
    tuned = tune_ivf_pq(
        base,
        recall_target=recall_target,
        k=k,
        nlists=csv(nlists),
        ms=csv(ms),
        train_size=train_size,
        vector_set_id=f"synthetic-{n}x{dim}-seed{seed}",
        log=lambda line: print(line, flush=True),
        extend_m=extend_m,
    )
    tune_s = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    tuned.write(out.with_name("index_plan.json"))
    print(
        f"tuned in {tune_s:.0f} s: nlist={tuned.nlist} m={tuned.m} nbits={tuned.nbits} nprobe={tuned.nprobe} "
        f"FAISS recall@10={tuned.recall:.3f} meets_target={tuned.meets_target}",
        flush=True,
    )

    # 2. exact FAISS flat: truth and the latency baseline (one query at a time, like a serving request)
    flat = faiss.IndexFlatIP(dim)
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
    track_ids = np.arange(1, n + 1, dtype=np.int64)
    vs = VectorSet(
        manifest=VectorSetManifest(encoder_id="synthetic", config_hash="0" * 64, dim=dim),
        track_ids=track_ids,
        vectors=base,
        n_segments=np.ones(n, dtype=np.int32),
        duration_seconds=np.full(n, 30.0, dtype=np.float32),
    )
    meta = {int(t): {"genre_top": names[int(g)], "artist_id": -1} for t, g in zip(track_ids, genre, strict=True)}
    plan = tuned.index_plan()
    results: dict[str, dict[str, float]] = {}
    with milvus_server("museed-bench-milvus-") as uri:
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
    load = Machine.now().load
    summary = {
        "n": n,
        "dim": dim,
        "queries": queries_n,
        "plan": {k_: v for k_, v in tuned.to_json().items() if k_ != "operating_points"},
        "operating_points": tuned.to_json()["operating_points"],
        "tune_seconds": tune_s,
        "milvus_build_seconds": build_s,
        "flat_batch_ms_per_query": flat_batch_ms,
        "faiss_threads": threads,
        "results": results,
        "loadavg": load,
        "total_seconds": time.perf_counter() - started,
    }
    write_json(out, summary)
    print()
    print("| filter | Milvus IVF_PQ recall@10 | Milvus ms/query | FAISS flat ms/query | speed-up |")
    print("|---|---|---|---|---|")
    for label, r in results.items():
        tag = {"none": "none", "common": f"common ({counts[common]} tracks)", "rare": f"rare ({counts[rare]} tracks)"}
        print(
            f"| {tag[label]} | {r['milvus_recall']:.3f} | {r['milvus_ms']:.2f} | {r['flat_ms']:.2f} | "
            f"{r['speedup']:.1f}x |"
        )
    print(f"FAISS flat batched (200 queries, {threads} thread(s)): {flat_batch_ms:.2f} ms/query; load {load}")


if __name__ == "__main__":
    app()
