"""Filtered IVF search: recall@10 against the filter's share of the rows, with and without scaling nprobe.

    flock /tmp/museed-bench.lock python -m benchmarks.filtered_probe

Same synthetic 90k x 512 vectors as benchmarks.index; FAISS IVF-Flat (nlist 1200, so only the partitioning limits
recall, not PQ) with an `IDSelector` for the filter, truth = exact search within the filter. Rows: no filter;
the common genre with seeds of that genre; the rare genre with seeds of OTHER genres ("like this, but Easy
Listening"). Columns: fixed nprobe values, then the policy `TrackIndex.search` uses (`filtered_nprobe`:
nprobe / share, and every list once that passes half of them).
"""

from __future__ import annotations

import time
from typing import Annotated

import faiss
import numpy as np
import typer

from benchmarks.common import Command, synthetic_tracks
from indexing.milvus_index import filtered_nprobe

app = typer.Typer(add_completion=False)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of the true top k found."""
    return float(np.mean([len((set(f) & set(t)) - {-1}) / k for f, t in zip(found, truth, strict=True)]))


@app.command(cls=Command, help=__doc__)
def main(
    n: Annotated[int, typer.Option("--n")] = 90_000,
    dim: Annotated[int, typer.Option("--dim")] = 512,
    nlist: Annotated[int, typer.Option("--nlist")] = 1200,
    tuned_nprobe: Annotated[int, typer.Option("--nprobe", help="the tuned (unfiltered) nprobe")] = 16,
    queries_n: Annotated[int, typer.Option("--queries")] = 200,
) -> None:
    """Build, search, print a markdown table."""
    k = 10
    base, genre, pool, pool_genre = synthetic_tracks(n, 16_000, dim, 0)
    counts = np.bincount(genre)
    common, rare = int(np.argmax(counts)), int(np.argmin(counts))
    flat = faiss.IndexFlatIP(dim)
    flat.add(base)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(base[np.random.default_rng(0).permutation(n)[:50_000]])
    ivf.add(base)
    rows = [
        ("none", pool[:queries_n], None),
        (f"common genre ({counts[common]} rows), its own seeds", pool[pool_genre == common][:queries_n], common),
        (f"rare genre ({counts[rare]} rows), other genres' seeds", pool[pool_genre != rare][:queries_n], rare),
    ]
    fixed = [tuned_nprobe, 2 * tuned_nprobe, 4 * tuned_nprobe, 16 * tuned_nprobe]
    print(f"| filter | {' | '.join(f'nprobe {p}' for p in fixed)} | nprobe / share |")
    print(f"|---|{'---|' * len(fixed)}---|")
    for label, queries, g in rows:
        sel = None if g is None else faiss.IDSelectorBatch(np.flatnonzero(genre == g).astype(np.int64))
        share = 1.0 if g is None else counts[g] / n
        truth = flat.search(
            queries,
            k,
            params=None if sel is None else faiss.SearchParameters(sel=sel),  # type: ignore[call-arg]
        )[1]
        cells = []
        policy = filtered_nprobe(tuned_nprobe, nlist, share)
        for nprobe in [*fixed, policy]:
            params = (
                faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)  # type: ignore[call-arg]
                if sel
                else faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
            )
            t0 = time.perf_counter()
            found = ivf.search(queries, k, params=params)[1]
            ms = (time.perf_counter() - t0) * 1000 / len(queries)
            cells.append(f"{recall(found, truth, k):.3f} ({ms:.2f} ms)")
        print(f"| {label} | {' | '.join(cells[:-1])} | {cells[-1]} at nprobe {policy} |")


if __name__ == "__main__":
    app()
