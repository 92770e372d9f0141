"""Scoring vector sets: every metric of `evaluation.metrics` applied to each vector set and label set, with
bootstrap intervals over the query tracks and paired differences from the reference set.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

from evaluation.inputs import EvaluatedSet, EvaluationConfig, LabelSet, Log
from evaluation.markdown import HEADLINE_METRICS
from evaluation.metrics import (
    NeighbourLists,
    average_precision,
    bootstrap_ci,
    hubness,
    k_occurrence,
    knn_correct,
    macro_mean,
    per_class_table,
    precision_at_k,
    silhouette,
    top_k_neighbours,
)

#: top-k lists (plain, other artists only) by population mask
NeighbourCache = dict[bytes, tuple[NeighbourLists, NeighbourLists]]
#: P@10, mAP's neighbour lists for hubness and the case-study playlists all use the top 10
RETRIEVAL_K: Final = 10


@dataclass
class PerQuery:
    """Per-query values of one vector set on one label set (for CIs and paired differences)."""

    knn_accuracy: np.ndarray
    knn_accuracy_other_artists: np.ndarray
    precision_at_10: np.ndarray
    map: np.ndarray  # NaN outside the mAP query sample
    held_out: np.ndarray  # bool, aligned with the rows of the label set's population


def metric_summary(values: np.ndarray, cfg: EvaluationConfig) -> dict[str, Any]:
    """Mean of the non-NaN per-query `values` with its bootstrap interval and count."""
    v = values[~np.isnan(values)]
    return {
        "value": float(v.mean()) if len(v) else float("nan"),
        "ci": list(bootstrap_ci(v, cfg.bootstrap, cfg.confidence, cfg.seed)),
        "n": len(v),
    }


def neighbours_for(
    vectors: np.ndarray, artists: np.ndarray, mask: np.ndarray, k: int, cache: NeighbourCache
) -> tuple[NeighbourLists, NeighbourLists]:
    """Top-k lists (plain, other artists only) among the `mask`ed tracks, computed once per mask in `cache`."""
    key = np.packbits(mask).tobytes() + len(mask).to_bytes(8, "little")
    if key not in cache:
        plain, other_artists = top_k_neighbours(vectors[mask], k, exclude_groups=artists[mask])
        assert other_artists is not None
        cache[key] = (plain, other_artists)
    return cache[key]


def evaluate_label_set(
    x: np.ndarray,
    artists: np.ndarray,
    held_out: np.ndarray,
    ls: LabelSet,
    cfg: EvaluationConfig,
    cache: NeighbourCache,
) -> tuple[dict[str, Any], PerQuery, list[dict[str, Any]] | None]:
    """Every metric of one vector set `x` on one label set: (results, per-query values, per-genre table)."""
    mask = ls.codes >= 0
    codes = ls.codes[mask]
    n_classes = len(ls.names)
    plain, other = neighbours_for(x, artists, mask, max(cfg.k, RETRIEVAL_K), cache)
    k = min(cfg.k, plain.k)
    correct = knn_correct(plain.index[:, :k], codes, n_classes)
    correct_other = knn_correct(other.index[:, :k], codes, n_classes)
    p10 = precision_at_k(plain.index[:, :RETRIEVAL_K], codes)
    rng = np.random.default_rng(cfg.seed)
    population = int(mask.sum())
    queries = (
        np.arange(population)
        if population <= cfg.map_queries
        else np.sort(rng.choice(population, cfg.map_queries, replace=False))
    )
    ap = np.full(population, np.nan)
    ap[queries] = average_precision(x[mask], codes, queries)
    sil = silhouette(x[mask], codes, cfg.silhouette_sample, cfg.seed)
    per_query = PerQuery(correct, correct_other, p10, ap, held_out[mask])
    held = per_query.held_out
    result: dict[str, Any] = {
        "tracks": population,
        "knn_accuracy": metric_summary(correct, cfg),
        "knn_macro_accuracy": macro_mean(correct, codes),
        "knn_accuracy_other_artists": metric_summary(correct_other, cfg),
        "knn_macro_accuracy_other_artists": macro_mean(correct_other, codes),
        "precision_at_10": metric_summary(p10, cfg),
        "map": {**metric_summary(ap, cfg), "queries": len(queries)},
        "silhouette": {"value": sil.value, "sample_size": sil.sample_size},
        "held_out": {
            "queries": int(held.sum()),
            "knn_accuracy": metric_summary(correct[held], cfg),
            "precision_at_10": metric_summary(p10[held], cfg),
            "map": metric_summary(ap[held], cfg),
        },
    }
    table = None
    if ls.key == "genre":
        rows = per_class_table(codes, ls.names, correct, p10, RETRIEVAL_K, sil, cfg.minority_share)
        table = [{"genre": r.name, **{k: v for k, v in asdict(r).items() if k != "name"}} for r in rows]
        for row, r in zip(table, rows, strict=True):
            row["precision_at_10"] = row.pop("precision_at_k")
            row["knn_accuracy_other_artists"] = float(correct_other[codes == ls.names.index(r.name)].mean())
    return result, per_query, table


def label_summary(ls: LabelSet) -> dict[str, Any]:
    """Class counts, majority share and the random-ranking precision of a label set."""
    codes = ls.codes[ls.codes >= 0]
    counts = np.bincount(codes, minlength=len(ls.names))
    n = len(codes)
    shares = counts / max(1, n)
    # a random ranking puts a same-label track at any position with this probability
    random_precision = float(np.sum(counts * (counts - 1)) / max(1, n * (n - 1)))
    order = np.argsort(-counts, kind="stable")
    return {
        "title": ls.title,
        "source": ls.source,
        "tracks": n,
        "unlabelled": int((ls.codes < 0).sum()),
        "classes": {ls.names[i]: int(counts[i]) for i in order if counts[i]},
        "majority_share": float(shares.max(initial=0.0)),
        "random_precision": random_precision,
    }


def difference(diff: np.ndarray, cfg: EvaluationConfig) -> dict[str, Any]:
    """Mean paired difference (non-NaN queries) with its bootstrap interval and whether it excludes zero."""
    d = diff[~np.isnan(diff)]
    low, high = bootstrap_ci(d, cfg.bootstrap, cfg.confidence, cfg.seed)
    return {
        "diff": float(d.mean()) if len(d) else float("nan"),
        "ci": [low, high],
        "excludes_zero": bool(low > 0 or high < 0),
        "n": len(d),
    }


@dataclass
class Scores:
    """What `score_sets` computed, per vector set (by name)."""

    results: dict[str, Any]  # name -> hubness and every label set's metrics (as in metrics.json)
    per_query: dict[tuple[str, str], PerQuery]  # (name, label set) -> per-query values
    full: dict[str, NeighbourLists]  # name -> top-k lists over all tracks
    occurrences: dict[str, np.ndarray]  # name -> k-occurrence of every track in the top 10
    per_genre: dict[str, list[dict[str, Any]]]  # name -> per-genre table


def score_sets(
    sets: list[EvaluatedSet],
    label_sets: dict[str, LabelSet],
    ids: np.ndarray,
    artists: np.ndarray,
    genre_values: list[str | None],
    held_out: np.ndarray,
    cfg: EvaluationConfig,
    say: Log,
) -> Scores:
    """Hubness over all tracks and every label set's metrics, for every vector set."""
    scores = Scores({}, {}, {}, {}, {})
    everyone = np.ones(len(ids), dtype=bool)
    for s in sets:
        t0 = time.perf_counter()
        cache: NeighbourCache = {}
        plain, _ = neighbours_for(s.vectors, artists, everyone, max(cfg.k, RETRIEVAL_K), cache)
        scores.full[s.name] = plain
        top10 = plain.index[:, :RETRIEVAL_K]
        hub = hubness(top10, len(ids))
        scores.occurrences[s.name] = k_occurrence(top10, len(ids))
        res: dict[str, Any] = {
            "hubness": {
                **asdict(hub),
                "hubs": [
                    {"track_id": int(ids[row]), "k_occurrence": count, "genre": genre_values[row]}
                    for row, count in hub.hubs
                ],
            }
        }
        for key, ls in label_sets.items():
            res[key], scores.per_query[(s.name, key)], table = evaluate_label_set(
                s.vectors, artists, held_out, ls, cfg, cache
            )
            if table is not None:
                res["per_genre"] = table
                scores.per_genre[s.name] = table
        scores.results[s.name] = res
        say(f"{s.name}: metrics in {time.perf_counter() - t0:.1f} s")
    return scores


def compare_sets(
    sets: list[EvaluatedSet], label_sets: dict[str, LabelSet], scores: Scores, cfg: EvaluationConfig
) -> list[dict[str, Any]]:
    """Paired differences of every other set from the reference (the first), per label set and headline metric."""
    comparisons = []
    reference = sets[0]
    for other in sets[1:]:
        for key in label_sets:
            a, b = scores.per_query[(reference.name, key)], scores.per_query[(other.name, key)]
            comp: dict[str, Any] = {"reference": reference.name, "other": other.name, "label_set": key}
            for metric in HEADLINE_METRICS:
                diff = getattr(b, metric) - getattr(a, metric)
                comp[metric] = difference(diff, cfg)
                comp[f"held_out_{metric}"] = difference(diff[a.held_out], cfg)
            comparisons.append(comp)
    return comparisons
