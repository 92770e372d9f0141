"""Cost of `museed evaluate`'s metrics for one vector set at library scale (FMA: ~90k tracks x 1024 dims).

python -m benchmarks.evaluate                          # 90k x 1024, 16 genres in fma_large proportions
python -m benchmarks.evaluate --n 20000 --dim 512 --out data/bench/evaluate-20k.json

Vectors are random with a genre signal (a genre centre plus noise), artists of ~6 tracks within a genre; the cost
does not depend on the content. Times every step the report runs per vector set and label set with the default
settings (k = 10, mAP on 5000 queries, silhouette on 5000 tracks, 1000 bootstrap resamples, t-SNE of 3000 tracks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from benchmarks.common import Command, Machine, write_json
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
from synth import FMA_LARGE_GENRE_TOP_COUNTS

app = typer.Typer(add_completion=False)


@app.command(cls=Command, help=__doc__)
def main(
    n: Annotated[int, typer.Option("--n")] = 90_000,
    dim: Annotated[int, typer.Option("--dim")] = 1024,
    map_queries: Annotated[int, typer.Option("--map-queries")] = 5000,
    silhouette_sample: Annotated[int, typer.Option("--silhouette-sample")] = 5000,
    bootstrap: Annotated[int, typer.Option("--bootstrap")] = 1000,
    tsne_points: Annotated[int, typer.Option("--tsne-points")] = 3000,
    out: Annotated[Path, typer.Option("--out")] = Path("data/bench/evaluate-90k.json"),
) -> None:
    """Time every step of the report on one synthetic vector set, print the table and write JSON."""
    rng = np.random.default_rng(0)
    shares = np.asarray(list(FMA_LARGE_GENRE_TOP_COUNTS.values()), dtype=float)
    genres = rng.choice(len(shares), size=n, p=shares / shares.sum())
    genres.sort()
    artists = np.cumsum(rng.random(n) < 1 / 6) + 1000 * genres  # runs of ~6 tracks, never across genres
    centres = rng.standard_normal((len(shares), dim)).astype(np.float32)
    vectors = centres[genres] + 2.0 * rng.standard_normal((n, dim)).astype(np.float32)

    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
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
    queries = np.sort(rng.choice(n, min(n, map_queries), replace=False))
    ap = timed(f"mAP ({len(queries)} queries, full ranking)", average_precision, vectors, genres, queries)
    sil = timed(f"silhouette ({silhouette_sample} sample)", silhouette, vectors, genres, silhouette_sample)
    timed("bootstrap CIs (3 metrics)", lambda: [bootstrap_ci(v, bootstrap) for v in (correct, p10, ap)])
    hub = timed("hubness", hubness, plain.index, n)

    rows = np.sort(rng.choice(n, min(n, tsne_points), replace=False))
    names = list(FMA_LARGE_GENRE_TOP_COUNTS)
    png = out.with_suffix(".tsne.png")
    out.parent.mkdir(parents=True, exist_ok=True)
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
    machine = Machine.now()
    record = {
        "n": n,
        "dim": dim,
        "timings_s": timings,
        "total_s": total,
        "knn_accuracy": float(correct.mean()),
        "precision_at_10": float(p10.mean()),
        "map": float(np.nanmean(ap)),
        "silhouette": sil.value,
        "hubness_skewness": hub.skewness,
        "cpus": machine.cpus,
        "load_avg_1m": machine.load[0],
        "python": machine.python,
        "date": time.strftime("%Y-%m-%d"),
    }
    write_json(out, record)
    print(f"wrote {out}")


if __name__ == "__main__":
    app()
