"""Cost of `museed evaluate`'s metrics for one vector set at library scale (FMA: ~90k tracks x 1024 dims).

python scripts/bench_evaluate.py                          # 90k x 1024, 16 genres in fma_large proportions
python scripts/bench_evaluate.py --n 20000 --dim 512 --out data/bench/evaluate-20k.json

Vectors are random with a genre signal (a genre centre plus noise), artists of ~6 tracks within a genre; the cost
does not depend on the content. Times every step the report runs per vector set and label set with the default
settings (k = 10, mAP on 5000 queries, silhouette on 5000 tracks, 1000 bootstrap resamples, t-SNE of 3000 tracks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from evaluation.figures import tsne_maps
from evaluation.metrics import (
    average_precision,
    bootstrap_ci,
    hubness,
    knn_correct,
    precision_at_k,
    silhouette,
    top_k_neighbours,
)
from museed.synth import FMA_LARGE_GENRE_TOP_COUNTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=90_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--map-queries", type=int, default=5000)
    parser.add_argument("--silhouette-sample", type=int, default=5000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--tsne-points", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("data/bench/evaluate-90k.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shares = np.asarray(list(FMA_LARGE_GENRE_TOP_COUNTS.values()), dtype=float)
    genres = rng.choice(len(shares), size=args.n, p=shares / shares.sum())
    genres.sort()
    artists = np.cumsum(rng.random(args.n) < 1 / 6) + 1000 * genres  # runs of ~6 tracks, never across genres
    centres = rng.standard_normal((len(shares), args.dim)).astype(np.float32)
    vectors = centres[genres] + 2.0 * rng.standard_normal((args.n, args.dim)).astype(np.float32)

    timings: dict[str, float] = {}

    def timed(name: str, fn, *a, **kw):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        result = fn(*a, **kw)
        timings[name] = round(time.perf_counter() - t0, 2)
        print(f"{name:<34} {timings[name]:8.2f} s", flush=True)
        return result

    plain, other = timed("top-10 neighbours (+ other artists)", top_k_neighbours, vectors, 10, exclude_groups=artists)
    assert other is not None
    correct = timed(
        "k-NN vote (both lists)",
        lambda: (knn_correct(plain.index, genres, len(shares)), knn_correct(other.index, genres, len(shares))),
    )[0]
    p10 = timed("P@10", precision_at_k, plain.index, genres)
    queries = np.sort(rng.choice(args.n, min(args.n, args.map_queries), replace=False))
    ap = timed(f"mAP ({len(queries)} queries, full ranking)", average_precision, vectors, genres, queries)
    sil = timed(f"silhouette ({args.silhouette_sample} sample)", silhouette, vectors, genres, args.silhouette_sample)
    timed("bootstrap CIs (3 metrics)", lambda: [bootstrap_ci(v, args.bootstrap) for v in (correct, p10, ap)])
    hub = timed("hubness", hubness, plain.index, args.n)

    rows = np.sort(rng.choice(args.n, min(args.n, args.tsne_points), replace=False))
    names = list(FMA_LARGE_GENRE_TOP_COUNTS)
    png = args.out.with_suffix(".tsne.png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    timed(
        f"t-SNE map ({len(rows)} points)",
        tsne_maps,
        {"bench": vectors[rows]},
        [names[g] for g in genres[rows]],
        names,
        png,
    )
    total = round(sum(timings.values()), 1)
    print(f"{'total per vector set':<34} {total:8.1f} s")
    record = {
        "n": args.n,
        "dim": args.dim,
        "timings_s": timings,
        "total_s": total,
        "knn_accuracy": float(correct.mean()),
        "precision_at_10": float(p10.mean()),
        "map": float(np.nanmean(ap)),
        "silhouette": sil.value,
        "hubness_skewness": hub.skewness,
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
