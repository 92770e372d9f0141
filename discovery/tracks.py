"""The columnar track tables the engine works on: the seeds, and the ranked candidates an index search returned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from discovery.vectors import unit_rows

#: the album or artist id of a track whose album or artist is unknown (never capped, never blocked)
UNKNOWN = -1


@dataclass(frozen=True)
class Tracks:
    """Tracks as parallel columns: ids, unit vectors, artist and album ids, titles and artist names."""

    track_ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, d) float64, unit rows
    artist_ids: np.ndarray  # (n,) int64, UNKNOWN when not known
    album_ids: np.ndarray  # (n,) int64, UNKNOWN when not known
    titles: tuple[str, ...]
    artist_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.track_ids)

    @classmethod
    def build(
        cls,
        track_ids: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        *,
        artist_ids: Sequence[int] | np.ndarray | None = None,
        album_ids: Sequence[int] | np.ndarray | None = None,
        titles: Sequence[str] | None = None,
        artist_names: Sequence[str] | None = None,
    ) -> Tracks:
        """A table from columns; missing columns are filled with UNKNOWN or ''; lengths must agree."""
        ids = np.asarray(track_ids, dtype=np.int64).ravel()
        n = len(ids)
        raw = np.asarray(vectors, dtype=np.float64)
        vecs = unit_rows(raw) if n else np.zeros((0, raw.shape[-1] if raw.ndim == 2 else 0))
        columns = {
            "vectors": len(vecs),
            "artist_ids": n if artist_ids is None else len(artist_ids),
            "album_ids": n if album_ids is None else len(album_ids),
            "titles": n if titles is None else len(titles),
            "artist_names": n if artist_names is None else len(artist_names),
        }
        wrong = {k: v for k, v in columns.items() if v != n}
        if wrong:
            raise ValueError(f"{n} track ids but column lengths {wrong}")
        return cls(
            track_ids=ids,
            vectors=vecs,
            artist_ids=_ids(artist_ids, n),
            album_ids=_ids(album_ids, n),
            titles=tuple(titles) if titles is not None else ("",) * n,
            artist_names=tuple(artist_names) if artist_names is not None else ("",) * n,
        )


@dataclass(frozen=True)
class Candidates(Tracks):
    """Ranked candidates: a table plus each one's score (cosine to the query unless a rule rescored it)."""

    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) float64

    @classmethod
    def ranked(cls, tracks: Tracks, scores: Sequence[float] | np.ndarray) -> Candidates:
        """Candidates from a table and one score per row, in the table's order."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        if len(s) != len(tracks):
            raise ValueError(f"{len(tracks)} candidates but {len(s)} scores")
        return cls(**{f: getattr(tracks, f) for f in _TRACK_FIELDS}, scores=s)

    def take(self, rows: Sequence[int] | np.ndarray) -> Candidates:
        """The candidates at `rows`, in that order."""
        r = np.asarray(rows, dtype=np.int64)
        return Candidates(
            track_ids=self.track_ids[r],
            vectors=self.vectors[r],
            artist_ids=self.artist_ids[r],
            album_ids=self.album_ids[r],
            titles=tuple(self.titles[i] for i in r),
            artist_names=tuple(self.artist_names[i] for i in r),
            scores=self.scores[r],
        )


_TRACK_FIELDS = ("track_ids", "vectors", "artist_ids", "album_ids", "titles", "artist_names")


def _ids(values: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, UNKNOWN, dtype=np.int64)
    return np.asarray(values, dtype=np.int64).ravel()
