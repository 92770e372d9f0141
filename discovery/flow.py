"""Flow: order a playlist for smooth transitions (greedy nearest neighbour, then 2-opt), along an energy curve,
or as a path from one track to another in N steps."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Final, Literal

import numpy as np

from discovery.policy import violates_artist_gap
from discovery.vectors import unit_rows

EnergyShape = Literal["rise", "fall", "arc"]
#: energy labels of the tag vocabulary on a 0..1 scale
ENERGY_LEVEL: Final[dict[str, float]] = {"low": 0.0, "medium": 0.5, "high": 1.0}
#: a camelot wheel code: 1..12 and A (minor) or B (major)
_WHEEL = 12


def camelot(pitch_class: int, minor: bool) -> str:
    """The Camelot code of a key (C major = 8B, A minor = 8A): neighbours on the wheel mix harmonically."""
    major_root = (pitch_class + 3) % 12 if minor else pitch_class % 12
    number = (7 * major_root % 12 + 7) % 12 + 1
    return f"{number}{'A' if minor else 'B'}"


def key_distance(a: str, b: str) -> float:
    """0 for the same key, up to 1: steps around the Camelot wheel plus one for a major/minor change, over 7."""
    na, nb = int(a[:-1]), int(b[:-1])
    steps = abs(na - nb) % _WHEEL
    steps = min(steps, _WHEEL - steps)
    return (steps + (a[-1].upper() != b[-1].upper())) / 7.0


def tempo_distance(a: float, b: float) -> float:
    """Octaves between two tempi, where half and double time count as the same pulse (0 = same tempo)."""
    ratio = abs(float(np.log2(a / b)))
    return min(ratio, abs(ratio - 1.0))


def transition_costs(
    vectors: np.ndarray,
    *,
    tempi: Sequence[float] | None = None,
    keys: Sequence[str] | None = None,
    tempo_weight: float = 1.0,
    key_weight: float = 0.25,
) -> np.ndarray:
    """Pairwise cost of playing one track after another: cosine distance, plus tempo and key terms when given."""
    x = unit_rows(vectors)
    cost = 1.0 - x @ x.T
    n = len(x)
    if tempi is not None:
        if len(tempi) != n or any(not t > 0 for t in tempi):
            raise ValueError("give one positive tempo (BPM) per track")
        cost += tempo_weight * np.array([[tempo_distance(a, b) for b in tempi] for a in tempi])
    if keys is not None:
        if len(keys) != n:
            raise ValueError("give one Camelot key per track")
        cost += key_weight * np.array([[key_distance(a, b) for b in keys] for a in keys])
    np.fill_diagonal(cost, 0.0)
    return cost


def path_cost(costs: np.ndarray, order: Sequence[int]) -> float:
    """The sum of the costs between consecutive tracks of `order`."""
    return float(sum(costs[a, b] for a, b in itertools.pairwise(order)))


def _greedy(costs: np.ndarray, start: int, artists: np.ndarray | None, gap: int) -> list[int]:
    n = len(costs)
    order = [start]
    free = np.ones(n, dtype=bool)
    free[start] = False
    for _ in range(n - 1):
        row = np.where(free, costs[order[-1]], np.inf)
        if artists is not None and gap:
            recent = set(artists[order[-gap:]].tolist())
            blocked = np.isin(artists, list(recent)) & (artists >= 0)
            if np.isfinite(np.where(blocked, np.inf, row)).any():
                row = np.where(blocked, np.inf, row)
        nxt = int(np.argmin(row))
        order.append(nxt)
        free[nxt] = False
    return order


def _two_opt(costs: np.ndarray, order: list[int], fixed_start: bool, artists: np.ndarray | None, gap: int) -> list[int]:
    n = len(order)
    improved = True
    while improved:
        improved = False
        for i in range(1 if fixed_start else 0, n - 1):
            for j in range(i + 1, n):
                before = (costs[order[i - 1], order[i]] if i else 0.0) + (
                    costs[order[j], order[j + 1]] if j + 1 < n else 0.0
                )
                after = (costs[order[i - 1], order[j]] if i else 0.0) + (
                    costs[order[i], order[j + 1]] if j + 1 < n else 0.0
                )
                if after < before - 1e-12:
                    candidate = order[:i] + order[i : j + 1][::-1] + order[j + 1 :]
                    if artists is not None and gap and violates_artist_gap(artists[candidate], gap):
                        continue
                    order, improved = candidate, True
    return order


def smooth_order(
    costs: np.ndarray,
    *,
    start: int | None = None,
    artist_ids: Sequence[int] | np.ndarray | None = None,
    min_artist_gap: int = 0,
) -> list[int]:
    """An order with low total transition cost: greedy nearest neighbour (from `start`, or from the best start),
    improved by 2-opt; with `artist_ids`, moves that break `min_artist_gap` are refused."""
    n = len(costs)
    if n <= 2:
        return list(range(n)) if start is None else [start, *[i for i in range(n) if i != start]]
    artists = None if artist_ids is None else np.asarray(artist_ids, dtype=np.int64)
    starts = [start] if start is not None else range(n)
    best = min((_greedy(costs, s, artists, min_artist_gap) for s in starts), key=lambda o: path_cost(costs, o))
    return _two_opt(costs, best, start is not None, artists, min_artist_gap)


def energy_order(energies: Sequence[float] | np.ndarray, shape: EnergyShape = "arc") -> list[int]:
    """Tracks placed along an energy curve (rise, fall, or rise then fall), ties kept in their given order."""
    e = np.asarray(energies, dtype=np.float64)
    t = np.linspace(0.0, 1.0, len(e))
    target = {"rise": t, "fall": 1.0 - t, "arc": np.sin(np.pi * t)}[shape]
    # matching ranks minimises the squared gap between the curve and the energies
    positions = np.argsort(target, kind="stable")
    order = np.empty(len(e), dtype=np.int64)
    order[positions] = np.argsort(e, kind="stable")
    return [int(i) for i in order]


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if omega < 1e-6:
        return a
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def sonic_path(
    library_vectors: np.ndarray, start: int, end: int, length: int, *, exclude: Sequence[int] = ()
) -> list[int]:
    """Library rows from `start` to `end` in `length` tracks (both ends included): each step is the unused track
    nearest the next point on the great circle between the two."""
    x = unit_rows(library_vectors)
    if length < 2:
        raise ValueError("a path needs at least its two ends")
    if start == end:
        raise ValueError("a path needs two different tracks")
    if length > len(x) - len(set(exclude) - {start, end}):
        raise ValueError(f"the library has too few tracks for a path of {length}")
    free = np.ones(len(x), dtype=bool)
    free[[start, end, *exclude]] = False
    path = [start]
    for t in np.linspace(0.0, 1.0, length)[1:-1]:
        point = slerp(x[start], x[end], float(t))
        nxt = int(np.argmax(np.where(free, x @ point, -np.inf)))
        path.append(nxt)
        free[nxt] = False
    return [*path, end]
