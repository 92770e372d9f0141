"""Choose IVF-PQ parameters for a recall target with FAISS, on the vectors that will be served.

The scan: a few `nlist` values over 4*sqrt(N)..16*sqrt(N), `m` among dim/8, dim/4, dim/2 (divisors of the
dimension), `nbits` 8, and for each pair the smallest `nprobe` whose recall@k against exact inner-product search
on held-out queries reaches the target. Every operating point examined is recorded; the fastest pair meeting the
target wins. When no pair reaches the target (PQ's quantisation error caps recall), the most accurate point is
chosen and the plan says `meets_target: false` -- callers report that instead of pretending.

Re-rank mode (`rerank=R`): each search fetches the top R by PQ distance and re-ranks them from int8 copies of the
vectors (`indexing.compact`, what serving does), so a small m suffices; the default grid is then one nlist and
m = dim/8. `tune_rows` tunes on a sample of that many rows (a Milvus segment's worth: the server builds and probes
one IVF index per segment, so the per-segment shape is what the plan sets), which keeps tuning time flat in N.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexing.compact import code_scores, quantize
from indexing.plan import EXACT_MAX_ROWS, IndexPlan
from museed.errors import PipelineError

#: Knowhere/FAISS k-means wants at least this many training points per list
MIN_POINTS_PER_LIST = 39
#: nprobe values tried in order for each (nlist, m) until the target is reached
NPROBE_LADDER = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
#: stop climbing the ladder when the last PLATEAU_STEPS points gained less than PLATEAU_GAIN recall
PLATEAU_STEPS = 4
PLATEAU_GAIN = 0.002


class TuningError(PipelineError):
    """The vectors cannot be tuned (too few, wrong shape, not finite)."""


@dataclass(frozen=True)
class OperatingPoint:
    """One (nlist, m, nbits, nprobe) setting and what it achieved on the held-out queries."""

    nlist: int
    m: int
    nbits: int
    nprobe: int
    recall: float
    ms_per_query: float


@dataclass
class TunedPlan:
    """The chosen IVF-PQ parameters plus the evidence (written as the plan JSON)."""

    vector_set_id: str
    n_vectors: int
    dim: int
    metric: str
    k: int
    recall_target: float
    nlist: int
    m: int
    nbits: int
    nprobe: int
    recall: float
    ms_per_query: float
    meets_target: bool
    n_queries: int
    train_size: int
    seconds: float
    operating_points: list[OperatingPoint] = field(default_factory=list)
    #: candidates re-ranked from the compact store per search (0: plain IVF_PQ)
    rerank: int = 0
    #: rows the scan was tuned on (a sample of the vectors when smaller than n_vectors)
    tune_rows: int = 0

    def index_plan(self, index_type: str = "IVF_PQ") -> IndexPlan:
        """The Milvus plan: IVF_PQ with these parameters, or a substitute type with the same nlist/nprobe."""
        # a plan that re-ranks is served with a compact store, which also answers small filters exactly
        exact_max_rows = EXACT_MAX_ROWS if self.rerank else 0
        if index_type == "IVF_PQ":
            return IndexPlan(
                index_type="IVF_PQ",
                metric=self.metric,
                nlist=self.nlist,
                nprobe=self.nprobe,
                m=self.m,
                nbits=self.nbits,
                rerank=self.rerank,
                exact_max_rows=exact_max_rows,
            )
        return IndexPlan(
            index_type=index_type,
            metric=self.metric,
            nlist=self.nlist,
            nprobe=self.nprobe,
            rerank=self.rerank,
            exact_max_rows=exact_max_rows,
        )

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TunedPlan:
        """Parse a plan written by `to_json`."""
        points = [OperatingPoint(**p) for p in data.get("operating_points", [])]
        return cls(**{**data, "operating_points": points})

    def write(self, path: Path) -> Path:
        """Write the plan JSON (parent directories created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path


def read_plan(path: Path) -> TunedPlan:
    """Read a plan JSON written by `TunedPlan.write`."""
    try:
        return TunedPlan.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise TuningError(f"cannot read index plan {path}: {exc}") from exc


def nlist_candidates(n: int, factors: Sequence[float] = (4, 8, 16)) -> list[int]:
    """nlist = factor*sqrt(N), capped so every list keeps MIN_POINTS_PER_LIST training points."""
    cap = max(1, n // MIN_POINTS_PER_LIST)
    return sorted({max(1, min(cap, int(f * math.sqrt(n)))) for f in factors})


def m_candidates(dim: int) -> list[int]:
    """PQ sub-quantiser counts dim/8, dim/4, dim/2 (each divides dim, as Milvus requires)."""
    return sorted({dim // d for d in (8, 4, 2) if dim % d == 0})


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the true top-k found in the returned top-k."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / k


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product top-k row indices (FAISS IndexFlatIP)."""
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    _, ids = flat.search(queries, k)
    return np.asarray(ids)


def tune_ivf_pq(
    vectors: np.ndarray,
    recall_target: float = 0.95,
    k: int = 10,
    n_queries: int = 200,
    nlists: Sequence[int] | None = None,
    ms: Sequence[int] | None = None,
    nbits: int = 8,
    nprobes: Sequence[int] = NPROBE_LADDER,
    train_size: int = 50_000,
    vector_set_id: str = "",
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    extend_m: bool = True,
    rerank: int = 0,
    tune_rows: int | None = None,
) -> TunedPlan:
    """Scan IVF-PQ settings on `vectors` (unit rows, IP metric) and pick the fastest meeting `recall_target`.

    `n_queries` rows are held out as queries (not indexed); the rest are indexed and searched exactly for truth.
    The nprobe ladder stops early once recall plateaus; with `extend_m`, m = dim is tried when no scanned m
    reaches the target. `rerank` > 0 measures recall after re-ranking the top `rerank` PQ candidates from int8
    copies; `tune_rows` scans a random sample of that many indexed rows (see the module docstring).
    """
    started = time.perf_counter()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise TuningError("vectors must be a finite 2-D array")
    n_total, dim = x.shape
    n_queries = min(n_queries, max(1, n_total // 10))
    if n_total - n_queries < max(4 * k, MIN_POINTS_PER_LIST):
        raise TuningError(f"too few vectors to tune an IVF index: {n_total}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_total)
    queries, base = x[order[:n_queries]], x[order[n_queries:]]
    if tune_rows is not None and tune_rows < len(base):
        base = base[np.sort(rng.permutation(len(base))[:tune_rows])]
    n = len(base)
    truth = exact_top_k(base, queries, k)
    train = base[rng.permutation(n)[: min(train_size, n)]]
    if rerank > 0:  # one cheap configuration: the re-rank, not a finer PQ, carries the recall
        nlists = (
            list(nlists) if nlists else [min(nlist_candidates(n, (4,))[0], max(1, len(train) // MIN_POINTS_PER_LIST))]
        )
        ms = list(ms) if ms else [m_candidates(dim)[0]]
        extend_m = False
    nlists = list(nlists) if nlists else nlist_candidates(n)
    ms = list(ms) if ms else m_candidates(dim)
    codes, scales = quantize(base) if rerank > 0 else (None, None)
    points: list[OperatingPoint] = []
    quantizers: dict[int, Any] = {}
    best_per_config: list[OperatingPoint] = []
    scanned_ms = list(ms)
    configs = [(nlist, m) for nlist in nlists for m in ms]
    while configs:
        nlist, m = configs.pop(0)
        if nlist * MIN_POINTS_PER_LIST > len(train):
            continue
        # one coarse quantiser per nlist, shared by every m (FAISS skips retraining a trained quantiser)
        if nlist not in quantizers:
            quantizers[nlist] = faiss.IndexFlatIP(dim)
            faiss.IndexIVFFlat(quantizers[nlist], dim, nlist, faiss.METRIC_INNER_PRODUCT).train(train)
        quantizer = quantizers[nlist]
        t0 = time.perf_counter()
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        index.train(train)
        index.add(base)
        if log:
            log(f"nlist={nlist} m={m}: trained and filled in {time.perf_counter() - t0:.1f} s")
        reached: OperatingPoint | None = None
        for nprobe in [p for p in nprobes if p <= nlist] or [nlist]:
            index.nprobe = nprobe
            t1 = time.perf_counter()
            _, found = index.search(queries, max(k, rerank))
            if codes is not None:
                found = np.array([_reranked(codes, scales, cand, q, k) for cand, q in zip(found, queries, strict=True)])
            ms_q = (time.perf_counter() - t1) * 1000 / len(queries)
            point = OperatingPoint(nlist, m, nbits, nprobe, round(recall_at_k(found, truth, k), 4), round(ms_q, 4))
            points.append(point)
            if log:
                log(f"  nprobe={nprobe}: recall@{k}={point.recall:.3f} {point.ms_per_query:.3f} ms/query")
            if point.recall >= recall_target:
                reached = point
                break
            recalls = [p.recall for p in points if p.nlist == nlist and p.m == m]
            if len(recalls) >= PLATEAU_STEPS and recalls[-1] - recalls[-PLATEAU_STEPS] < PLATEAU_GAIN:
                break  # PQ's quantisation caps recall here: more probes only cost time
        # the smallest nprobe meeting the target, else this config's best recall
        mine = [p for p in points if p.nlist == nlist and p.m == m]
        best_per_config.append(reached or max(mine, key=lambda p: (p.recall, -p.ms_per_query)))
        short = not any(p.recall >= recall_target for p in best_per_config)
        if not configs and extend_m and dim not in scanned_ms and short:
            # every scanned m falls short: one sub-quantiser per dimension (m = dim) is the finest PQ
            best = max(best_per_config, key=lambda p: p.recall)
            scanned_ms.append(dim)
            configs.append((best.nlist, dim))
            if log:
                log(f"no m in {ms} reaches recall {recall_target}: trying m={dim}")
    if not best_per_config:
        raise TuningError(f"no nlist candidate fits {n} vectors with {MIN_POINTS_PER_LIST} points per list")
    meeting = [p for p in best_per_config if p.recall >= recall_target]
    chosen = (
        min(meeting, key=lambda p: (p.ms_per_query, p.nprobe))
        if meeting
        else max(best_per_config, key=lambda p: (p.recall, -p.ms_per_query))
    )
    return TunedPlan(
        vector_set_id=vector_set_id,
        n_vectors=n_total,
        dim=dim,
        metric="IP",
        k=k,
        recall_target=recall_target,
        nlist=chosen.nlist,
        m=chosen.m,
        nbits=chosen.nbits,
        nprobe=chosen.nprobe,
        recall=chosen.recall,
        ms_per_query=chosen.ms_per_query,
        meets_target=bool(meeting),
        n_queries=len(queries),
        train_size=len(train),
        seconds=round(time.perf_counter() - started, 2),
        operating_points=points,
        rerank=rerank,
        tune_rows=n,
    )


def _reranked(
    codes: np.ndarray, scales: np.ndarray | None, candidates: np.ndarray, query: np.ndarray, k: int
) -> np.ndarray:
    """The `k` best of `candidates` (row numbers, -1 padding) by the stored int8 vectors, padded with -1."""
    rows = candidates[candidates >= 0]
    best = rows[np.argsort(-code_scores(codes, scales, rows, query), kind="stable")[:k]]
    return np.concatenate([best, np.full(k - len(best), -1, dtype=best.dtype)])
