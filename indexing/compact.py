"""The compact store: int8 (or float16) copies of the served vectors plus their scalar fields, kept in the API
process, for the two searches that must not pay a second Milvus round trip.

- Re-rank: IVF_PQ with a small m returns the top R candidates by quantised distance; their exact order comes from
  these copies (Milvus 2.3 has no IVF_PQ refine, and fetching the float vectors would cost another request floor).
- Exact small filters: a filter that keeps few rows is answered by a scan of exactly those rows, no Milvus call.

Written next to each collection at build time (`CompactStore.save`), memory-mapped on load: workers on one host
share the pages. int8 codes carry one scale per row (x ~ scale * code, |code| <= 127).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import DataType

from indexing.schema import SCALAR_FIELDS
from museed.errors import PipelineError

#: store formats: int8 with a per-row scale (1 byte per dimension) or float16 (2 bytes)
STORE_DTYPES = ("int8", "float16")
#: filters whose row sets are kept for reuse (a serving process sees a handful of distinct filters)
ROW_CACHE_SIZE = 64
#: the VARCHAR scalar fields, stored as codes into a per-field label list
TEXT_FIELDS = tuple(f for f, (dtype, _) in SCALAR_FIELDS.items() if dtype == DataType.VARCHAR)


class CompactStoreError(PipelineError):
    """The compact store is missing, unreadable or does not match its collection."""


def quantize(vectors: np.ndarray, dtype: str = "int8") -> tuple[np.ndarray, np.ndarray | None]:
    """(codes, per-row scales) of `vectors`: int8 codes with scale max|x| / 127 per row, or float16 and no scale."""
    x = np.asarray(vectors, dtype=np.float32)
    if dtype == "float16":
        return x.astype(np.float16), None
    if dtype != "int8":
        raise CompactStoreError(f"store dtype must be one of {STORE_DTYPES}, not {dtype!r}")
    peak = np.abs(x).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(x / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def code_scores(codes: np.ndarray, scales: np.ndarray | None, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Inner products of `query` with the stored rows `rows` (dequantised: float32 arithmetic)."""
    # einsum casts in its inner loop and stays on one thread: a BLAS matvec needs a float32 copy first, and
    # OpenBLAS' threads stall when the cores are busy (10x slower at 50k rows on 2 loaded cores)
    q = np.asarray(query, dtype=np.float32)
    scores: np.ndarray = np.einsum("ij,j->i", codes[rows], q, dtype=np.float32, casting="unsafe")
    return scores * scales[rows] if scales is not None else scores


@dataclass
class CompactStore:
    """Compact vectors and scalar fields of one collection, row-aligned with `track_ids`."""

    track_ids: np.ndarray  # int64 (n,)
    codes: np.ndarray  # int8 or float16 (n, dim)
    scales: np.ndarray | None  # float32 (n,) for int8
    text_codes: dict[str, np.ndarray]  # field -> int16 (n,) index into labels[field]
    labels: dict[str, list[str]]
    artist_id: np.ndarray  # int64 (n,)
    duration: np.ndarray  # float32 (n,)
    genres_offsets: np.ndarray  # int64 (n + 1,): genres_all of row i = genres_values[offsets[i]:offsets[i+1]]
    genres_values: np.ndarray  # int64
    _order: np.ndarray = field(init=False, repr=False)
    _rows_cache: dict[tuple[Any, ...], np.ndarray] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._order = np.argsort(self.track_ids, kind="stable")

    # ---- building and files ---------------------------------------------------------------------------
    @classmethod
    def from_rows(
        cls, track_ids: np.ndarray, vectors: np.ndarray, rows: Sequence[dict[str, Any]], dtype: str = "int8"
    ) -> CompactStore:
        """A store from the vectors and the Milvus rows (`indexing.schema.milvus_row`) the collection receives."""
        codes, scales = quantize(vectors, dtype)
        labels: dict[str, list[str]] = {}
        text_codes: dict[str, np.ndarray] = {}
        for name in TEXT_FIELDS:
            values = [str(r.get(name) or "") for r in rows]
            labels[name] = sorted(set(values))
            index = {v: i for i, v in enumerate(labels[name])}
            text_codes[name] = np.array([index[v] for v in values], dtype=np.int16)
        genres = [list(r.get("genres_all") or []) for r in rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(g) for g in genres])
        return cls(
            track_ids=np.asarray(track_ids, dtype=np.int64),
            codes=codes,
            scales=scales,
            text_codes=text_codes,
            labels=labels,
            artist_id=np.array([int(r.get("artist_id", -1)) for r in rows], dtype=np.int64),
            duration=np.array([float(r.get("duration", 0.0)) for r in rows], dtype=np.float32),
            genres_offsets=offsets,
            genres_values=np.array([g for gs in genres for g in gs], dtype=np.int64),
        )

    def save(self, folder: Path) -> Path:
        """Write the store under `folder` (codes as .npy so `load` can memory-map them); returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "codes.npy", self.codes)
        arrays: dict[str, np.ndarray] = {
            "track_ids": self.track_ids,
            "artist_id": self.artist_id,
            "duration": self.duration,
            "genres_offsets": self.genres_offsets,
            "genres_values": self.genres_values,
            **{f"text_{name}": codes for name, codes in self.text_codes.items()},
        }
        if self.scales is not None:
            arrays["scales"] = self.scales
        np.savez(folder / "fields.npz", **arrays)  # type: ignore[arg-type]
        (folder / "labels.json").write_text(json.dumps(self.labels), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> CompactStore:
        """Read a store written by `save`; the codes are memory-mapped unless `mmap` is False."""
        folder = Path(folder)
        try:
            codes = np.load(folder / "codes.npy", mmap_mode="r" if mmap else None)
            with np.load(folder / "fields.npz") as f:
                arrays = {name: f[name] for name in f.files}
            labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise CompactStoreError(f"cannot read the compact store at {folder}: {exc}") from exc
        return cls(
            track_ids=arrays["track_ids"],
            codes=codes,
            scales=arrays.get("scales"),
            text_codes={name: arrays[f"text_{name}"] for name in TEXT_FIELDS if f"text_{name}" in arrays},
            labels={name: list(v) for name, v in labels.items()},
            artist_id=arrays["artist_id"],
            duration=arrays["duration"],
            genres_offsets=arrays["genres_offsets"],
            genres_values=arrays["genres_values"],
        )

    # ---- facts ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def dtype(self) -> str:
        """ "int8" or "float16"."""
        return "float16" if self.codes.dtype == np.float16 else "int8"

    @property
    def vector_bytes(self) -> int:
        """Bytes of the compact vectors (codes plus scales)."""
        return int(self.codes.nbytes) + (int(self.scales.nbytes) if self.scales is not None else 0)

    @property
    def field_bytes(self) -> int:
        """Bytes of the scalar fields and the id index kept beside the vectors."""
        arrays = [self.track_ids, self._order, self.artist_id, self.duration, self.genres_offsets, self.genres_values]
        return int(sum(a.nbytes for a in arrays) + sum(c.nbytes for c in self.text_codes.values()))

    # ---- rows -----------------------------------------------------------------------------------------
    def rows_of(self, track_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row numbers of `track_ids` (-1 for ids not in the store)."""
        ids = np.asarray(track_ids, dtype=np.int64)
        pos = np.searchsorted(self.track_ids, ids, sorter=self._order)
        pos = np.minimum(pos, len(self._order) - 1)
        rows = self._order[pos]
        return np.where(self.track_ids[rows] == ids, rows, -1) if len(ids) else rows

    def matching_rows(self, equals: dict[str, str], genre_id: int | None = None) -> np.ndarray | None:
        """Rows whose text fields equal `equals` (by Milvus field) and whose genres_all holds `genre_id`,
        ascending; None when nothing restricts (every row matches)."""
        if not equals and genre_id is None:
            return None
        key = (tuple(sorted(equals.items())), genre_id)
        if key in self._rows_cache:
            return self._rows_cache[key]
        mask = np.ones(len(self), dtype=bool)
        for name, value in equals.items():
            labels = self.labels.get(name, [])
            if value not in labels:
                mask[:] = False
                break
            mask &= self.text_codes[name] == labels.index(value)
        if genre_id is not None:
            hits = np.flatnonzero(self.genres_values == int(genre_id))
            holders = np.zeros(len(self), dtype=bool)
            holders[np.searchsorted(self.genres_offsets, hits, side="right") - 1] = True
            mask &= holders
        rows = np.flatnonzero(mask)
        if len(self._rows_cache) >= ROW_CACHE_SIZE:
            self._rows_cache.pop(next(iter(self._rows_cache)))
        self._rows_cache[key] = rows
        return rows

    def fields(self, row: int) -> dict[str, Any]:
        """The scalar fields of `row`, as a Milvus search hit's `entity` holds them."""
        out: dict[str, Any] = {name: self.labels[name][int(codes[row])] for name, codes in self.text_codes.items()}
        start, end = int(self.genres_offsets[row]), int(self.genres_offsets[row + 1])
        out["genres_all"] = [int(g) for g in self.genres_values[start:end]]
        out["artist_id"] = int(self.artist_id[row])
        out["duration"] = float(self.duration[row])
        out["track_id"] = int(self.track_ids[row])
        return out

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of `rows`, dequantised to float32 (what `scores` multiplies by)."""
        codes = np.asarray(self.codes[rows], dtype=np.float32)
        return codes * self.scales[rows][:, None] if self.scales is not None else codes

    # ---- scoring --------------------------------------------------------------------------------------
    def scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Inner products of `query` with the stored vectors of `rows`."""
        return code_scores(self.codes, self.scales, rows, query)

    def rerank(self, query: np.ndarray, track_ids: Sequence[int]) -> list[tuple[int, float, int]]:
        """`track_ids` (candidates from the ANN index) as (track id, score, row), best first by the stored
        vectors; raises when a candidate is not in the store (store and collection out of step)."""
        rows = self.rows_of(track_ids)
        if (rows < 0).any():
            missing = np.asarray(track_ids)[rows < 0][:5].tolist()
            raise CompactStoreError(f"candidates {missing} are not in the compact store: rebuild the collection")
        scores = self.scores(query, rows)
        order = np.argsort(-scores, kind="stable")
        return [(int(self.track_ids[rows[i]]), float(scores[i]), int(rows[i])) for i in order]

    def exact(
        self,
        query: np.ndarray,
        rows: np.ndarray | None,
        k: int,
        exclude_ids: Sequence[int] = (),
        max_per_artist: int | None = None,
    ) -> list[tuple[int, float, int]]:
        """The exact top `k` of `rows` (every row when None) by inner product with `query`, without
        `exclude_ids`, with at most `max_per_artist` per artist (-1, unknown, is not an artist): (id, score, row)."""
        rows = np.arange(len(self)) if rows is None else rows
        if exclude_ids:
            rows = np.setdiff1d(rows, self.rows_of(exclude_ids), assume_unique=False)
        if k < 1 or len(rows) == 0:
            return []
        scores = self.scores(query, rows)
        if max_per_artist is None and k < len(rows):
            top = np.argpartition(-scores, k - 1)[:k]
            order = top[np.argsort(-scores[top], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        out: list[tuple[int, float, int]] = []
        taken: dict[int, int] = {}
        for i in order:
            row = int(rows[i])
            artist = int(self.artist_id[row])
            if max_per_artist is not None and artist >= 0:
                if taken.get(artist, 0) >= max_per_artist:
                    continue
                taken[artist] = taken.get(artist, 0) + 1
            out.append((int(self.track_ids[row]), float(scores[i]), row))
            if len(out) >= k:
                break
        return out
