"""What `museed doctor` needs from Milvus: the ids a collection holds, removing rows, and re-pointing a serving
alias whose collection is gone."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexing.build import TrackIndex

_PAGE = 4096


def collection_track_ids(index: TrackIndex, name: str) -> set[int]:
    """Every track id stored in collection `name` (read in pages, so a 90k collection is no single huge reply)."""
    iterator = index.client.query_iterator(
        collection_name=name, batch_size=_PAGE, filter="track_id >= 0", output_fields=["track_id"]
    )
    ids: set[int] = set()
    try:
        while batch := iterator.next():
            ids.update(int(row["track_id"]) for row in batch)
    finally:
        iterator.close()
    return ids


def delete_track_ids(index: TrackIndex, name: str, track_ids: set[int]) -> int:
    """Remove these tracks' rows from collection `name`; returns how many were asked to go."""
    ordered = sorted(track_ids)
    for start in range(0, len(ordered), _PAGE):
        index.client.delete(collection_name=name, ids=ordered[start : start + _PAGE])
    if ordered and not index.is_lite:
        index.client.flush(collection_name=name)
    return len(ordered)


def alias_state(index: TrackIndex) -> tuple[str | None, bool]:
    """(the collection the serving alias names, whether that collection exists); (None, False) without alias."""
    aliases = index.client.list_aliases().get("aliases") or []
    if index.alias not in aliases:
        return None, False
    info = index.client.describe_alias(alias=index.alias)
    name = str(info.get("collection_name")) if info else None
    return name, name is not None and index.client.has_collection(name)


def repoint_alias(index: TrackIndex) -> str | None:
    """Point the serving alias at the newest built collection that still exists (None: there is none)."""
    versions = index.versions()
    if not versions:
        return None
    newest = versions[-1][0]
    aliases = index.client.list_aliases().get("aliases") or []
    if index.alias in aliases:
        index.client.alter_alias(collection_name=newest, alias=index.alias)
    else:
        index.client.create_alias(collection_name=newest, alias=index.alias)
    index.ensure_loaded()
    return newest
