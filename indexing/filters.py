"""What a search may be restricted to: `SearchFilters` (the tag axes of `museed.vocab.TAG_AXES` plus a genre id),
the Milvus boolean expression they become, and the filtered-probe and re-rank policies (`filtered_nprobe`,
`filtered_rerank`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pymilvus import DataType

from indexing.schema import SCALAR_FIELDS
from museed.errors import PipelineError
from museed.vocab import GENRE_AXIS, VOCAB_AXES


class FilterError(PipelineError):
    """A search filter names an unknown field or a value outside the tag vocabulary."""


@dataclass(frozen=True)
class SearchFilters:
    """What a search may be restricted to; one field per tag axis (`museed.vocab.TAG_AXES`, by name), whose values
    must come from the axis' vocabulary, plus `genre_id`."""

    genre: str | None = None
    genre_id: int | None = None  # any level of the genre tree (matches `genres_all`)
    mood_style: str | None = None
    energy: str | None = None
    valence: str | None = None
    source: str | None = None

    def tags(self) -> dict[str, str]:
        """The tag filters that are set, by Milvus field, validated against the vocabulary."""
        out = {}
        for axis in VOCAB_AXES:
            value = getattr(self, axis.name)
            if value is None:
                continue
            if value not in axis.labels:
                raise FilterError(f"{axis.name}={value!r} is not one of {list(axis.labels)}")
            out[axis.milvus_field] = value
        return out


def _quote(value: str) -> str:
    """A Milvus string literal (JSON escaping handles quotes and backslashes)."""
    return json.dumps(value, ensure_ascii=False)


def build_filter(
    genre: str | None = None,
    exclude_ids: Sequence[int] = (),
    equals: dict[str, str] | None = None,
    genre_id: int | None = None,
    exclude_artists: Sequence[int] = (),
) -> str:
    """A Milvus boolean expression for the given filters ("" when none); `equals` is keyed by Milvus field."""
    parts = []
    if genre:
        parts.append(f"{GENRE_AXIS.milvus_field} == {_quote(genre)}")
    if genre_id is not None:
        parts.append(f"array_contains(genres_all, {int(genre_id)})")
    for name, value in (equals or {}).items():
        if name not in SCALAR_FIELDS or SCALAR_FIELDS[name][0] != DataType.VARCHAR:
            raise FilterError(f"no filterable text field {name!r}")
        parts.append(f"{name} == {_quote(value)}")
    if exclude_ids:
        parts.append(f"track_id not in [{', '.join(str(int(t)) for t in exclude_ids)}]")
    if exclude_artists:
        parts.append(f"artist_id not in [{', '.join(str(int(a)) for a in exclude_artists)}]")
    return " and ".join(parts)


def filtered_nprobe(nprobe: int, nlist: int, share: float) -> int:
    """Lists to probe when a filter keeps `share` of the rows: nprobe / share, and every list once that passes
    half of them (a very selective filter's rows may sit in the lists farthest from the query)."""
    wanted = math.ceil(nprobe / max(share, 1e-9))
    return nlist if wanted * 2 >= nlist else max(nprobe, wanted)


def filtered_rerank(rerank: int, share: float) -> int:
    """Candidates to re-rank when a filter keeps `share` of the rows: rerank / share, at most 4x rerank. At 90k x 512
    the common genre's seeds sit in its dense centre, where more rows fall within PQ's error of the 10th
    neighbour: 200 candidates found 0.932 of its top 10 against 0.954 unfiltered (docs/BENCHMARKS.md)."""
    return min(4 * rerank, math.ceil(rerank / max(share, 1e-9)))
