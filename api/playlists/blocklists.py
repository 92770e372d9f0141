"""Blocklist rules: a listener's and an organisation's blocked artists and tracks, as the API shows them and as the
discovery engine applies them (`discovery.policy.Blocklist`: the policy drops and counts each blocked candidate).
A listener's list applies to their playlists, an organisation's to its `/v1` recommendations."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.errors import NotFound
from api.playlists.repository import BlockedKind, BlocklistOwner, BlocklistRepository
from api.playlists.schemas import BlockedArtist, BlockedTrack, BlocklistOut
from api.tracks.service import brief
from discovery.policy import Blocklist


class BlocklistService:
    """Reads and edits the blocklists of one kind of owner; ids that name no catalog artist or track are 404."""

    def __init__(self, repo: BlocklistRepository) -> None:
        self.repo = repo

    def read(self, owner_id: str) -> BlocklistOut:
        """The whole blocklist, newest blocks first."""
        return BlocklistOut(
            artists=[
                BlockedArtist(artist_id=a.artist_id, name=a.name, blocked_at=at)
                for a, at in self.repo.artists(owner_id)
            ],
            tracks=[BlockedTrack(**brief(t).model_dump(), blocked_at=at) for t, at in self.repo.tracks(owner_id)],
        )

    def entry(self, owner_id: str, kind: BlockedKind, item_id: int) -> BlockedArtist | BlockedTrack:
        """One blocked artist or track; 404 when the id names nothing in the catalog or is not blocked."""
        self._known(kind, item_id)
        at = self.repo.blocked_at(owner_id, kind, item_id)
        if at is None:
            raise NotFound(f"{kind} {item_id} is not blocked", reason="not_blocked")
        if kind == "artist":
            artist = self.repo.artist(item_id)
            assert artist is not None
            return BlockedArtist(artist_id=artist.artist_id, name=artist.name, blocked_at=at)
        track = self.repo.track(item_id)
        assert track is not None
        return BlockedTrack(**brief(track).model_dump(), blocked_at=at)

    def block(self, owner_id: str, kind: BlockedKind, item_id: int, on: bool = True) -> None:
        """Block (idempotent) or unblock (idempotent) a catalog artist or track; 404 for an unknown id."""
        self._known(kind, item_id)
        if on:
            self.repo.add(owner_id, kind, item_id)
        else:
            self.repo.remove(owner_id, kind, item_id)

    def blocklist(self, owner_id: str) -> Blocklist:
        """The engine's view of the list."""
        artists, tracks = self.repo.all_ids(owner_id)
        return Blocklist(artist_ids=frozenset(artists), track_ids=frozenset(tracks))

    def _known(self, kind: BlockedKind, item_id: int) -> None:
        found = self.repo.artist(item_id) if kind == "artist" else self.repo.track(item_id)
        if found is None:
            raise NotFound(f"no {kind} {item_id} in the catalog", reason=f"unknown_{kind}")


def blocklist_service(session: Session, owner: BlocklistOwner) -> BlocklistService:
    """The blocklists of listeners (`user`) or organisations (`org`) over `session`."""
    return BlocklistService(BlocklistRepository(session, owner))


async def get_user_blocklists(session: SessionDep) -> BlocklistService:
    """The request's service for listeners' blocklists."""
    return blocklist_service(session, "user")


async def get_org_blocklists(session: SessionDep) -> BlocklistService:
    """The request's service for organisations' blocklists."""
    return blocklist_service(session, "org")


UserBlocklistsDep = Annotated[BlocklistService, Depends(get_user_blocklists)]
OrgBlocklistsDep = Annotated[BlocklistService, Depends(get_org_blocklists)]
