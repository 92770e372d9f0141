"""Filtered IVF search: recall@10 against the filter's share of the rows, with and without scaling nprobe.

    flock /tmp/museed-bench.lock python scripts/bench_filtered_probe.py

Same synthetic 90k x 512 vectors as bench_index.py; FAISS IVF-Flat (nlist 1200, so only the partitioning limits
recall, not PQ) with an `IDSelector` for the filter, truth = exact search within the filter. Rows: no filter;
the common genre with seeds of that genre; the rare genre with seeds of OTHER genres ("like this, but Easy
Listening"). Columns: fixed nprobe values, then the policy `TrackIndex.search` uses (`filtered_nprobe`:
nprobe / share, and every list once that passes half of them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_index import synthetic_tracks

from indexing.milvus_index import filtered_nprobe


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of the true top k found."""
    return float(np.mean([len((set(f) & set(t)) - {-1}) / k for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    """Build, search, print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=90_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--nlist", type=int, default=1200)
    ap.add_argument("--nprobe", type=int, default=16, help="the tuned (unfiltered) nprobe")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    k = 10
    base, genre, pool, pool_genre = synthetic_tracks(args.n, 16_000, args.dim, 0)
    counts = np.bincount(genre)
    common, rare = int(np.argmax(counts)), int(np.argmin(counts))
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(base)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(args.dim), args.dim, args.nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(base[np.random.default_rng(0).permutation(args.n)[:50_000]])
    ivf.add(base)
    rows = [
        ("none", pool[: args.queries], None),
        (f"common genre ({counts[common]} rows), its own seeds", pool[pool_genre == common][: args.queries], common),
        (f"rare genre ({counts[rare]} rows), other genres' seeds", pool[pool_genre != rare][: args.queries], rare),
    ]
    fixed = [args.nprobe, 2 * args.nprobe, 4 * args.nprobe, 16 * args.nprobe]
    print(f"| filter | {' | '.join(f'nprobe {p}' for p in fixed)} | nprobe / share |")
    print(f"|---|{'---|' * len(fixed)}---|")
    for label, queries, g in rows:
        sel = None if g is None else faiss.IDSelectorBatch(np.flatnonzero(genre == g).astype(np.int64))
        share = 1.0 if g is None else counts[g] / args.n
        truth = flat.search(queries, k, params=None if sel is None else faiss.SearchParameters(sel=sel))[1]
        cells = []
        policy = filtered_nprobe(args.nprobe, args.nlist, share)
        for nprobe in [*fixed, policy]:
            params = (
                faiss.SearchParametersIVF(nprobe=nprobe, sel=sel) if sel else faiss.SearchParametersIVF(nprobe=nprobe)
            )
            t0 = time.perf_counter()
            found = ivf.search(queries, k, params=params)[1]
            ms = (time.perf_counter() - t0) * 1000 / len(queries)
            cells.append(f"{recall(found, truth, k):.3f} ({ms:.2f} ms)")
        print(f"| {label} | {' | '.join(cells[:-1])} | {cells[-1]} at nprobe {policy} |")


if __name__ == "__main__":
    main()
