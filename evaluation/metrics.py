"""Embedding-quality metrics as plain numpy / scikit-learn functions (no I/O, no plotting).

Every similarity is the cosine: vectors are L2-normalised first, so a dot product is a cosine. Neighbour lists
come from an exact FAISS flat search; everything computed in numpy (full rankings for mAP, the brute-force
fallback) works in row blocks, so 90k tracks never need a 90k x 90k matrix. Labels are integer codes
(`encode_labels`); `-1` means "no label".

Per-query metrics come back as one value per query track, so the same arrays feed the overall mean, per-class
tables and the bootstrap confidence intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from discovery.dial import k_occurrence_counts

#: similarities held in memory per block (float32: 128 MB)
BLOCK_ELEMENTS = 32 * 1024 * 1024
#: ranked positions held per block when computing average precision (int64 order + bool relevance)
RANK_BLOCK_ELEMENTS = 4 * 1024 * 1024


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def encode_labels(labels: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """String labels -> (int codes, sorted class names); None or "" becomes -1."""
    names = sorted({str(v) for v in labels if v})
    where = {name: i for i, name in enumerate(names)}
    codes = np.asarray([where[str(v)] if v else -1 for v in labels], dtype=np.int64)
    return codes, names


@dataclass
class NeighbourLists:
    """Top-k neighbours of every row, best first; `index` is -1 (and `similarity` -inf) where fewer exist."""

    index: np.ndarray  # int64 (n, k)
    similarity: np.ndarray  # float32 (n, k)

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.index.shape[1])

    def first(self, k: int) -> NeighbourLists:
        """The first `k` neighbours of every row."""
        return NeighbourLists(self.index[:, :k], self.similarity[:, :k])


def _top_k_rows(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row of `sims`, sorted by similarity, ties by column index (deterministic)."""
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(sims, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    index = np.take_along_axis(part, order, axis=1).astype(np.int64)
    sim = np.take_along_axis(vals, order, axis=1)
    index[~np.isfinite(sim)] = -1
    return index, sim


def _exact_rows(x: np.ndarray, rows: np.ndarray, k: int, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of `rows` by brute force in numpy blocks (self and, with `groups`, same-group rows excluded)."""
    n = len(x)
    index = np.full((len(rows), k), -1, np.int64)
    sim = np.full((len(rows), k), -np.inf, np.float32)
    block = max(1, min(len(rows), BLOCK_ELEMENTS // n))
    for start in range(0, len(rows), block):
        part = rows[start : start + block]
        sims = x[part] @ x.T
        sims[np.arange(len(part)), part] = -np.inf
        if groups is not None:
            sims[groups[part, None] == groups[None, :]] = -np.inf
        index[start : start + len(part)], sim[start : start + len(part)] = _top_k_rows(sims, k)
    return index, sim


def top_k_neighbours(
    vectors: np.ndarray, k: int, *, exclude_groups: np.ndarray | None = None, extra: int = 64
) -> tuple[NeighbourLists, NeighbourLists | None]:
    """Exact cosine top-k of every row among all other rows (the row itself excluded).

    With `exclude_groups` (e.g. artist ids, one per row) a second list is returned whose neighbours never share
    the query's group. One FAISS flat (exact) search of k + 1 + `extra` candidates serves both lists; the rows
    whose group fills so many candidates that fewer than k others remain are recomputed by brute force, so the
    result is exact either way. Within a list, equal similarities are ordered by row index (which of several
    tracks tied at the k-th place makes the cut is FAISS's choice). Returns (plain, group-excluded or None).
    """
    import faiss

    x = l2_normalise(vectors)
    n = len(x)
    if n < 2:
        raise ValueError("need at least 2 vectors to find neighbours")
    k = max(1, min(k, n - 1))
    groups = np.asarray(exclude_groups) if exclude_groups is not None else None
    k_search = min(n, k + 1 + (extra if groups is not None else 0))
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    found_sim, found = flat.search(x, k_search)
    rows = np.arange(n)
    is_self = found == rows[:, None]
    is_self[~is_self.any(axis=1), -1] = True  # self crowded out by exact duplicates: drop the last candidate
    cand = found[~is_self].reshape(n, k_search - 1).astype(np.int64)
    cand_sim = found_sim[~is_self].reshape(n, k_search - 1)
    order = np.lexsort((cand, -cand_sim), axis=1)
    cand, cand_sim = np.take_along_axis(cand, order, axis=1), np.take_along_axis(cand_sim, order, axis=1)
    plain = NeighbourLists(cand[:, :k].copy(), cand_sim[:, :k].copy())
    if groups is None:
        return plain, None
    keep = (cand >= 0) & (groups[np.clip(cand, 0, None)] != groups[:, None])
    first = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # the first k kept candidates, in rank order
    other = NeighbourLists(np.take_along_axis(cand, first, axis=1), np.take_along_axis(cand_sim, first, axis=1))
    dropped = ~np.take_along_axis(keep, first, axis=1)
    other.index[dropped], other.similarity[dropped] = -1, -np.inf
    short = np.flatnonzero(dropped.any(axis=1)) if k_search < n else np.zeros(0, np.int64)
    if len(short):
        other.index[short], other.similarity[short] = _exact_rows(x, short, k, groups)
    return plain, other


def neighbour_labels(neighbours: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Label code of every neighbour (-1 where there is no neighbour or it has no label)."""
    return np.where(neighbours >= 0, labels[np.clip(neighbours, 0, None)], -1)


def knn_predict(neighbours: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority vote over each row's neighbours (best first); ties go to the label whose first voter ranks highest.

    Rows without any labelled neighbour get -1.
    """
    n, k = neighbours.shape
    lab = neighbour_labels(neighbours, labels)
    votes = np.zeros((n, n_classes), np.int64)
    first = np.full((n, n_classes), k, np.int64)
    rows = np.arange(n)
    for j in range(k - 1, -1, -1):  # backwards, so `first` ends at the best-ranked voter of each label
        ok = lab[:, j] >= 0
        np.add.at(votes, (rows[ok], lab[ok, j]), 1)
        first[rows[ok], lab[ok, j]] = j
    score = votes * (k + 1) + (k - first)  # more votes first, then the earlier first voter
    pred = np.argmax(score, axis=1)
    pred[votes.max(axis=1, initial=0) == 0] = -1
    return pred


def knn_correct(neighbours: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per query: 1.0 when the k-NN vote equals its own label, else 0.0 (leave-one-out)."""
    return (knn_predict(neighbours, labels, n_classes) == labels).astype(np.float64)


def precision_at_k(neighbours: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per query: share of its k neighbours with the query's label (missing neighbours count as misses)."""
    lab = neighbour_labels(neighbours, labels)
    return (lab == labels[:, None]).mean(axis=1)


def macro_mean(per_query: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes of the per-class mean (k-NN accuracy -> balanced accuracy)."""
    classes = np.unique(labels[labels >= 0])
    if len(classes) == 0:
        return float("nan")
    return float(np.mean([per_query[labels == c].mean() for c in classes]))


def average_precision(vectors: np.ndarray, labels: np.ndarray, queries: np.ndarray | None = None) -> np.ndarray:
    """Per query: average precision of the full cosine ranking of all other rows, relevant = same label.

    `queries` (row indices) limits the work to a subsample; NaN for a query whose label no other row has.
    Ties in similarity are ranked by row index.
    """
    x = l2_normalise(vectors)
    n = len(x)
    q = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    out = np.full(len(q), np.nan)
    if n < 2:
        return out
    ranks = np.arange(1, n, dtype=np.float64)
    block = max(1, RANK_BLOCK_ELEMENTS // n)
    for start in range(0, len(q), block):
        rows = q[start : start + block]
        sims = x[rows] @ x.T
        sims[np.arange(len(rows)), rows] = -np.inf
        order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]  # the query itself sorts last: dropped
        relevant = labels[order] == labels[rows][:, None]
        hits = relevant.sum(axis=1)
        precision = np.cumsum(relevant, axis=1) / ranks
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + len(rows)] = np.where(hits > 0, (precision * relevant).sum(axis=1) / hits, np.nan)
    return out


@dataclass
class Silhouette:
    """Cosine silhouette of a (sub)sample: the mean, each sampled row's value and which rows were sampled."""

    value: float
    samples: np.ndarray  # float64 (m,): silhouette of each sampled row
    rows: np.ndarray  # int64 (m,): the sampled rows
    sample_size: int


def silhouette(vectors: np.ndarray, labels: np.ndarray, sample_size: int = 5000, seed: int = 0) -> Silhouette:
    """Cosine silhouette on a seeded random subsample of at most `sample_size` labelled rows.

    NaN when the sample holds fewer than 2 classes or every row is its own class.
    """
    from sklearn.metrics import silhouette_samples

    labelled = np.flatnonzero(labels >= 0)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(labelled, size=min(sample_size, len(labelled)), replace=False))
    n_classes = len(np.unique(labels[rows]))
    if n_classes < 2 or n_classes >= len(rows):
        return Silhouette(float("nan"), np.full(len(rows), np.nan), rows, len(rows))
    values = silhouette_samples(l2_normalise(vectors[rows]), labels[rows], metric="cosine")
    return Silhouette(float(np.mean(values)), values, rows, len(rows))


def bootstrap_ci(
    per_query: np.ndarray, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `per_query` (NaNs dropped), resampling queries with replacement.

    For a paired difference between two vector sets pass `b - a` of the same queries (same seed, same resamples).
    """
    v = np.asarray(per_query, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0 or n_resamples < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, (1 << 22) // len(v))  # about 4M indices at a time
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        means[start : start + m] = v[rng.integers(0, len(v), size=(m, len(v)))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


@dataclass
class Hubness:
    """How unevenly tracks appear in others' top-k lists."""

    k: int
    skewness: float  # of the k-occurrence distribution; 0 = even, large positive = a few hubs
    coverage: float  # share of rows that appear in at least one top-k list
    max_occurrence: int
    hubs: list[tuple[int, int]]  # (row, k-occurrence) of the most frequent neighbours, most frequent first


def k_occurrence(neighbours: np.ndarray, n: int) -> np.ndarray:
    """N_k(x): how many rows list x among their neighbours (the discovery engine's count)."""
    return k_occurrence_counts(neighbours, n).astype(np.int64)


def hubness(neighbours: np.ndarray, n: int, top: int = 10) -> Hubness:
    """k-occurrence skewness (Radovanović et al., 2010), catalogue coverage and the top hubs of top-k lists."""
    from scipy.stats import skew

    counts = k_occurrence(neighbours, n)
    skewness = float(skew(counts)) if counts.std() > 0 else 0.0
    order = np.lexsort((np.arange(n), -counts))[:top]
    return Hubness(
        k=int(neighbours.shape[1]),
        skewness=skewness,
        coverage=float((counts > 0).mean()) if n else float("nan"),
        max_occurrence=int(counts.max(initial=0)),
        hubs=[(int(i), int(counts[i])) for i in order],
    )


@dataclass
class ClassRow:
    """One class (genre) of the per-class table."""

    name: str
    support: int
    share: float
    knn_accuracy: float  # recall of the k-NN vote on this class
    precision_at_k: float
    precision_ceiling: float  # best P@k possible: (support - 1) / k, capped at 1
    silhouette: float  # mean over the class's sampled rows (NaN when none were sampled)
    silhouette_n: int
    minority: bool


def per_class_table(
    labels: np.ndarray,
    names: Sequence[str],
    correct: np.ndarray,
    p_at_k: np.ndarray,
    k: int,
    sil: Silhouette | None = None,
    minority_share: float = 0.02,
) -> list[ClassRow]:
    """Per class present: support, share, k-NN accuracy, P@k (and its ceiling), silhouette; largest class first."""
    labelled = labels >= 0
    total = int(labelled.sum())
    rows: list[ClassRow] = []
    for c in np.unique(labels[labelled]):
        mask = labels == c
        support = int(mask.sum())
        if sil is not None:
            in_sample = labels[sil.rows] == c
            sil_n = int(in_sample.sum())
            sil_value = float(np.nanmean(sil.samples[in_sample])) if sil_n else float("nan")
        else:
            sil_n, sil_value = 0, float("nan")
        rows.append(
            ClassRow(
                name=names[int(c)],
                support=support,
                share=support / total,
                knn_accuracy=float(correct[mask].mean()),
                precision_at_k=float(p_at_k[mask].mean()),
                precision_ceiling=min(1.0, (support - 1) / k),
                silhouette=sil_value,
                silhouette_n=sil_n,
                minority=support / total < minority_share,
            )
        )
    rows.sort(key=lambda r: (-r.support, r.name))
    return rows
