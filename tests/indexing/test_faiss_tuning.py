"""FAISS IVF-PQ tuning: the smallest nprobe meeting the recall target, every operating point, the plan JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexing.faiss_tuning import (
    OperatingPoint,
    TuningError,
    m_candidates,
    nlist_candidates,
    read_plan,
    recall_at_k,
    tune_ivf_pq,
)


def clustered(n: int = 3000, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors around `clusters` random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_candidate_grids() -> None:
    assert nlist_candidates(90_000) == [1200, 2307]  # 16*sqrt(N) exceeds N/39 lists
    assert nlist_candidates(4000) == [102]  # every candidate is capped at 39 points per list
    assert m_candidates(512) == [64, 128, 256] and m_candidates(32) == [4, 8, 16]
    assert recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 2, 9]]), 3) == pytest.approx(2 / 3)


def test_tuning_picks_smallest_nprobe_meeting_target_and_writes_plan(tmp_path: Path) -> None:
    x = clustered()
    plan = tune_ivf_pq(x, recall_target=0.8, nlists=[16, 32], ms=[8, 16], n_queries=100, vector_set_id="vs-test")
    assert plan.meets_target and plan.recall >= 0.8
    assert {(p.nlist, p.m) for p in plan.operating_points} == {(16, 8), (16, 16), (32, 8), (32, 16)}
    mine = sorted((p for p in plan.operating_points if (p.nlist, p.m) == (plan.nlist, plan.m)), key=lambda p: p.nprobe)
    # the chosen nprobe is the first one on its ladder to reach the target; every smaller one falls short
    assert mine[-1].nprobe == plan.nprobe and all(p.recall < 0.8 for p in mine[:-1])
    # the fastest configuration among those meeting the target
    meeting: dict[tuple[int, int], OperatingPoint] = {}
    for p in plan.operating_points:
        if p.recall >= 0.8:
            meeting.setdefault((p.nlist, p.m), p)
    assert plan.ms_per_query == min(p.ms_per_query for p in meeting.values())

    path = plan.write(tmp_path / "plans" / "vs-test.json")
    back = read_plan(path)
    assert back == plan and back.metric == "IP" and back.n_vectors == len(x) and back.dim == 32
    assert back.vector_set_id == "vs-test" and back.nbits == 8
    milvus = back.index_plan()
    assert (milvus.index_type, milvus.nlist, milvus.m, milvus.nbits, milvus.nprobe) == (
        "IVF_PQ",
        plan.nlist,
        plan.m,
        8,
        plan.nprobe,
    )


def test_unreachable_target_is_reported_not_hidden() -> None:
    plan = tune_ivf_pq(clustered(n=2000), recall_target=1.01, nlists=[16], ms=[4], n_queries=50)
    assert not plan.meets_target and plan.recall < 1.01
    # the most accurate point examined (PQ's recall ceiling), the fastest among equals
    assert plan.recall == max(p.recall for p in plan.operating_points)


def test_rejects_bad_input() -> None:
    with pytest.raises(TuningError):
        tune_ivf_pq(np.zeros((10, 8), dtype=np.float32))
    with pytest.raises(TuningError):
        tune_ivf_pq(np.full((500, 8), np.nan, dtype=np.float32))
