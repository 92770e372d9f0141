"""What every domain shares and none owns: the id path parameters, the page parameters and the page body.

Imports no domain, so any domain may import it (the domain graph stays acyclic). No `from __future__ import
annotations` here: FastAPI must see the page bounds in `page_query`'s annotations as objects, not strings."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Generic, Self, TypeVar

from fastapi import Depends, Path, Query
from pydantic import BaseModel, BeforeValidator

#: the shape of every generated id (uuid4 hex): users, playlists, uploads
HEX_ID_PATTERN = r"^[0-9a-f]{32}$"


def _hex_id() -> Any:
    return Path(min_length=32, max_length=32, pattern=HEX_ID_PATTERN)


#: the largest library track id: tracks.track_id is a 32-bit INTEGER on PostgreSQL (and must fit SQLite's 64)
MAX_TRACK_ID = 2**31 - 1

#: a library track id in a path (larger ones name nothing: 422, never an integer overflow in the database)
TrackId = Annotated[int, Path(ge=1, le=MAX_TRACK_ID)]
PlaylistId = Annotated[str, _hex_id()]
UserId = Annotated[str, _hex_id()]
UploadId = Annotated[str, _hex_id()]


def _iso_date(value: object) -> object:
    # pydantic alone reads "0" or "1700000000" as a Unix time: a query date must be written as one
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


#: a calendar day in a query string, as RFC 3339 `full-date` only (what the OpenAPI `format: date` promises)
IsoDate = Annotated[date, BeforeValidator(_iso_date)]

#: page size when a request does not say
DEFAULT_LIMIT = 50
#: the largest offset any list takes (a 64-bit SQLite integer or PostgreSQL bigint holds it; larger is nonsense)
MAX_OFFSET = 2**31 - 1


def distinct_track_ids(ids: list[int]) -> list[int]:
    """The seed-list rule of every request that takes library tracks: positive ids, none repeated."""
    if len(set(ids)) != len(ids):
        raise ValueError("seed_track_ids must not repeat a track")
    if any(t <= 0 for t in ids):
        raise ValueError("track ids are positive integers")
    return ids


@dataclass(frozen=True)
class Page:
    """Which slice of a list a request asks for: at most `limit` items after skipping `offset`."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


def page_query(max_limit: int = 200, max_offset: int | None = None) -> Callable[..., Page]:
    """The dependency that reads `?limit=&offset=` (bounded as given) into a `Page`."""

    def page(
        limit: Annotated[int, Query(ge=1, le=max_limit)] = DEFAULT_LIMIT,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET if max_offset is None else max_offset)] = 0,
    ) -> Page:
        return Page(limit=limit, offset=offset)

    return page


#: `?limit=` 1..200 (default 50) and `?offset=` 0..MAX_OFFSET: the bounds of every list but the library search
PageDep = Annotated[Page, Depends(page_query())]

ItemT = TypeVar("ItemT")


class PageOut(BaseModel, Generic[ItemT]):
    """A page of items with the total they were cut from; domains subclass it (e.g. adding facets)."""

    total: int
    limit: int
    offset: int
    items: list[ItemT]

    @classmethod
    def of(cls, page: Page, items: Sequence[ItemT], total: int, **extra: Any) -> Self:
        """The body for `items`, the `page` they fill and the `total` they were cut from."""
        return cls(total=total, limit=page.limit, offset=page.offset, items=list(items), **extra)
