"""Playlist rules: seeds -> (mean) vector -> filtered Milvus search -> catalog join -> stored playlist; refreshes
that keep what the owner kept and never repeat what the playlist served or the owner heard; forks of a recipe."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import structlog
from fastapi import Depends
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.badges.service import BadgeService, BadgeServiceDep
from api.common import Page
from api.db.models import Playlist, PlaylistTrack, Track, Upload, User
from api.deps import IndexDep, OptionalIndexDep, SessionDep
from api.errors import Forbidden, NotFound, Unprocessable
from api.playlists.blocklists import BlocklistService, blocklist_service
from api.playlists.discover import SeedSet, discover
from api.playlists.recommend import WHY_AXES, explain, seed_profile, unit_mean
from api.playlists.repository import PlaylistRepository
from api.playlists.schemas import (
    HeardPage,
    HeardTrackOut,
    PlaylistCreate,
    PlaylistEntry,
    PlaylistFork,
    PlaylistOrder,
    PlaylistOut,
    PlaylistSummary,
    PlaylistUpdate,
    RecommendationOptions,
)
from api.playlists.taste import TasteRepository
from api.tracks.service import brief
from api.uploads.service import UploadService, UploadServiceDep
from discovery.policy import Blocklist
from indexing.milvus_index import IndexPlan, SearchFilters, TrackIndex

log = structlog.get_logger("museed.playlists")
#: the request fields a recipe keeps (and a refresh replays): all but the title
RECIPE_OPTIONS = tuple(name for name in PlaylistCreate.model_fields if name != "title")


@dataclass
class _Pick:
    track: Track
    score: float
    why: str


@dataclass(frozen=True)
class Recommendation:
    """What a recommendation returns: (track, score, why) in order and the encoder and index that answered."""

    picks: list[tuple[Track, float, str]]
    encoder_id: str | None
    vector_set_id: str | None
    collection: str | None
    index_type: str
    dropped: dict[str, int] = field(default_factory=dict)  # policy rule -> candidates it dropped


@dataclass(frozen=True)
class _Found:
    picks: list[_Pick]
    plan: IndexPlan
    served: dict[str, Any]
    shortfall: str | None
    dropped: dict[str, int]


@dataclass
class _Generated:
    picks: list[_Pick]
    seeds: list[Track]
    recipe: dict[str, Any]
    default_title: str


def summary(playlist: Playlist, n_tracks: int, likes: int = 0) -> PlaylistSummary:
    """The list view of a playlist."""
    return PlaylistSummary(
        id=playlist.id,
        title=playlist.title,
        owner_id=playlist.owner_id,
        visibility=playlist.visibility,
        created_at=playlist.created_at,
        updated_at=playlist.updated_at,
        n_tracks=n_tracks,
        likes=likes,
    )


class PlaylistService:
    """Builds, stores and reads playlists; every write that touches a public playlist (or makes one public or
    private) keeps the owner's stored taste current, and writes award the badges they earn."""

    def __init__(
        self,
        repo: PlaylistRepository,
        index: TrackIndex | None,
        uploads: UploadService,
        badges: BadgeService,
        tastes: TasteRepository,
        blocklists: BlocklistService,
    ) -> None:
        self.repo = repo
        self.index = index
        self.uploads = uploads
        self.badges = badges
        self.tastes = tastes
        self.blocklists = blocklists

    def create(self, request: PlaylistCreate, owner: User) -> PlaylistOut:
        """Generate and store a (private) playlist for `request`, owned by `owner`."""
        made = self._generate(request, owner)
        playlist = Playlist(
            title=request.title or made.default_title,
            owner_id=owner.id,
            seed_track_ids=list(request.seed_track_ids),
            recipe=made.recipe,
            # the exact stored vectors of its tracks (the engine chose among quantised ones); only a new
            # playlist needs it (a refresh recomputes it over the kept and new tracks, `/v1` stores nothing)
            embedding=self._embedding([p.track.track_id for p in made.picks]),
        )
        playlist.entries = [
            PlaylistTrack(position=i, track_id=p.track.track_id, score=p.score, why=p.why)
            for i, p in enumerate(made.picks)
        ]
        self.repo.add(playlist)
        self.repo.record_served(playlist.id, [p.track.track_id for p in made.picks], new=True)
        # a new playlist is private: the owner's public taste (`user_tastes`) stays as it was
        log.info("playlist created", playlist_id=playlist.id, seeds=len(made.seeds), tracks=len(made.picks))
        out = self._out(playlist, made.seeds, [(p.track, p.score, p.why, False) for p in made.picks])
        self.badges.evaluate(owner.id)
        return out

    def refresh(self, playlist_id: str, user: User) -> PlaylistOut:
        """Run the stored recipe again against the index served now and top the playlist up to the recipe's size:
        the tracks the owner kept stay first, in their order; every other track is new, never one this playlist
        served before (made, refreshed or forked) nor one the owner marked heard, nor a blocked one. Title and
        visibility stay; the recipe records the index version that answered."""
        playlist = self.owned(playlist_id, user)
        recipe = dict(playlist.recipe or {})
        try:
            request = PlaylistCreate.model_validate({k: recipe[k] for k in RECIPE_OPTIONS if k in recipe})
        except ValidationError as exc:
            raise Unprocessable("this playlist's recipe predates the current options; make a new playlist") from exc
        blocklist = self.blocklists.blocklist(user.id)
        kept = [
            e
            for e in playlist.entries
            if e.kept and e.track_id not in blocklist.track_ids and e.track.artist_id not in blocklist.artist_ids
        ]
        served = self.repo.served_ids(playlist.id)
        wanted = request.size - len(kept)
        made: _Generated | None = None
        if wanted > 0:
            try:
                made = self._generate(
                    request,
                    user,
                    size=wanted,
                    served_before=served - {e.track_id for e in kept},
                    kept={e.track_id for e in kept},
                    blocklist=blocklist,
                )
            except Unprocessable as exc:
                if exc.extra.get("reason") != "no_match":
                    raise
                if not kept:
                    raise Unprocessable(
                        "no new track matches this playlist's recipe: refresh never repeats the "
                        f"{len(served)} tracks it served before, tracks you marked heard or blocked tracks; "
                        "keep tracks you want to stay, or loosen the recipe in a new playlist",
                        reason="no_match",
                        served_before=len(served),
                    ) from exc
        entries = [(e.track_id, e.score, e.why) for e in kept]
        if made is not None:
            entries += [(p.track.track_id, p.score, p.why) for p in made.picks]
            new_recipe = made.recipe
        else:  # the kept tracks fill the playlist, or nothing new matched: the recipe's options stay
            new_recipe = {**recipe, "shortfall": None if wanted <= 0 else "no new track matches this recipe"}
        self.repo.replace_entries(playlist, entries, kept={e.track_id for e in kept})
        lineage = {"forked_from": recipe["forked_from"]} if "forked_from" in recipe else {}
        playlist.recipe = {**new_recipe, **lineage, "refreshed_from": recipe.get("collection"), "kept": len(kept)}
        playlist.embedding = self._embedding([t for t, _, _ in entries])
        if playlist.visibility == "public":  # only public playlists make up the stored taste
            self.tastes.refresh(user.id)
        refreshed = self.repo.get(playlist_id)
        assert refreshed is not None
        return self.out(refreshed)

    def fork(self, playlist_id: str, body: PlaylistFork, user: User) -> PlaylistOut:
        """A private copy of a public playlist (or of one's own), owned by `user`: the same seeds, recipe and
        tracks, linked to its source (`forked_from`); refreshing it then follows its own history. A playlist
        seeded by someone else's private upload cannot be forked (the upload is theirs)."""
        source = self.readable(playlist_id, user)  # a private playlist of someone else is absent (404)
        recipe = dict(source.recipe or {})
        if recipe.get("seed_upload_id") and source.owner_id != user.id:
            raise Unprocessable(
                "this playlist was seeded by its owner's private upload; its recipe cannot be forked",
                reason="upload_seeded",
            )
        fork = Playlist(
            title=body.title.strip() if body.title and body.title.strip() else source.title,
            owner_id=user.id,
            seed_track_ids=list(source.seed_track_ids),
            recipe={**recipe, "forked_from": source.id},
            embedding=source.embedding,
            forked_from_id=source.id,
        )
        fork.entries = [
            PlaylistTrack(position=i, track_id=e.track_id, score=e.score, why=e.why)
            for i, e in enumerate(source.entries)
        ]
        self.repo.add(fork)
        # a fork is private: the owner's public taste stays as it was
        self.repo.record_served(fork.id, [e.track_id for e in source.entries], new=True)
        log.info("playlist forked", playlist_id=fork.id, source_id=source.id)
        made = self.repo.get(fork.id)
        assert made is not None
        out = self.out(made)
        self.badges.evaluate(user.id)
        return out

    def keep(self, playlist_id: str, track_id: int, user: User, on: bool = True) -> None:
        """Set (or clear) the owner's keep mark on one of the playlist's tracks; 404 when it holds no such
        track."""
        playlist = self.owned(playlist_id, user)
        if not self.repo.set_kept(playlist.id, track_id, on):
            raise NotFound(f"track {track_id} is not in this playlist", reason="not_in_playlist")

    def mark_heard(self, track_id: int, user: User, on: bool = True) -> None:
        """Mark (or unmark) a library track heard: none of `user`'s new or refreshed playlists serves it again
        (unless they keep it in one); 404 for a track not in the catalog."""
        if not self.repo.tracks_by_id([track_id]):
            raise NotFound(f"no track {track_id} in the catalog", reason="unknown_track")
        self.repo.mark_heard(user.id, track_id, on)

    def heard(self, user: User, page: Page) -> HeardPage:
        """The tracks `user` marked heard, newest first."""
        rows, total = self.repo.heard(user.id, page.limit, page.offset)
        return HeardPage.of(page, [HeardTrackOut(**brief(t).model_dump(), heard_at=at) for t, at in rows], total)

    def recommend(
        self,
        options: RecommendationOptions,
        size: int,
        seed_track_ids: Sequence[int] = (),
        vector: Sequence[float] | None = None,
        blocklist: Blocklist | None = None,
    ) -> Recommendation:
        """The tracks a playlist of `size` would hold for library seeds or a raw `vector` (of the served
        dimension), without storing anything: the B2B API's recommendations are the listener playlists'
        (`blocklist`: the calling organisation's)."""
        assert self.index is not None, "recommending needs the track index"
        if vector is not None:
            seeds = SeedSet(vectors=np.asarray([vector], dtype=np.float64))
            profile: dict[str, str] = {}
        else:
            seeds, profile = self._library_seeds(list(seed_track_ids))
        found = self._pick(seeds, profile, options, size, blocklist=blocklist)
        return Recommendation(
            picks=[(p.track, p.score, p.why) for p in found.picks],
            encoder_id=found.served["encoder_id"],
            vector_set_id=found.served["vector_set_id"],
            collection=found.served["collection"],
            index_type=found.plan.index_type,
            dropped=found.dropped,
        )

    def _library_seeds(self, track_ids: list[int]) -> tuple[SeedSet, dict[str, str]]:
        """The seed tracks with their vectors, and the tags they share; 422 for unknown or unembedded ids."""
        assert self.index is not None
        seeds = self.repo.tracks_by_id(track_ids)
        unknown = [t for t in track_ids if t not in seeds]
        if unknown:
            raise Unprocessable(f"unknown seed track ids: {unknown}", unknown_track_ids=unknown)
        rows = self.index.get_rows(track_ids)
        missing = [t for t in track_ids if t not in rows]
        if missing:
            raise Unprocessable(
                f"seed tracks without an embedding (their audio could not be decoded or was not embedded): {missing}",
                unembedded_track_ids=missing,
            )
        vectors = np.stack([np.asarray(rows[t]["vector"], dtype=np.float64) for t in track_ids])
        seed_set = SeedSet(vectors=vectors, track_ids=list(track_ids), tracks=[seeds[t] for t in track_ids])
        return seed_set, seed_profile([rows[t] for t in track_ids])

    def _generate(
        self,
        request: PlaylistCreate,
        owner: User,
        *,
        size: int | None = None,
        served_before: Collection[int] = (),
        kept: Collection[int] = (),
        blocklist: Blocklist | None = None,
    ) -> _Generated:
        """Seeds -> query vector -> filtered, artist-capped candidates -> (discovery re-rank) -> picks with why.
        The owner's blocklist (or `blocklist`) applies; nothing the owner marked heard is served, nor (for a
        refresh) what the playlist `served_before` or holds `kept`; `size` overrides the request's (a refresh
        tops a playlist up)."""
        assert self.index is not None, "creating playlists needs the track index"
        upload: Upload | None = None
        if request.seed_upload_id:
            upload = self.uploads.owned(request.seed_upload_id, owner)
            seeds = SeedSet(vectors=np.asarray([upload.vector], dtype=np.float64))
            profile = {a: v["value"] for a, v in (upload.analysis or {}).get("tags", {}).items() if a in WHY_AXES}
        else:
            seeds, profile = self._library_seeds(request.seed_track_ids)
        heard = self.repo.heard_ids(owner.id)
        found = self._pick(
            seeds,
            profile,
            request,
            request.size if size is None else size,
            blocklist=self.blocklists.blocklist(owner.id) if blocklist is None else blocklist,
            exclude={*heard, *served_before, *kept},
        )
        picks, plan, served = found.picks, found.plan, found.served
        seed_rows = seeds.tracks
        recipe = {
            **request.model_dump(mode="json", include=set(RECIPE_OPTIONS)),
            "seed_profile": profile,
            "upload_encoder_id": upload.encoder_id if upload else None,
            "encoder_id": served["encoder_id"],
            "vector_set_id": served["vector_set_id"],
            "collection": served["collection"],
            "index_type": plan.index_type,
            "nprobe": plan.nprobe,
            # why the playlist holds fewer tracks than asked for (None: it holds them all)
            "shortfall": found.shortfall,
            # how many candidates each policy rule dropped (blocked artists and tracks among them)
            "dropped": found.dropped,
            # what was left out of the search itself: tracks the owner marked heard, tracks served before
            "left_out": {"heard": len(heard), "served_before": len(set(served_before) - heard)},
        }
        default_title = f"Like “{upload.filename}”" if upload is not None else _default_title(seed_rows)
        suffix = [v for v in (request.genre, request.mood_style, request.energy and f"{request.energy} energy") if v]
        if suffix:
            default_title += f" ({', '.join(suffix)})"
        return _Generated(
            picks=picks,
            seeds=seed_rows,
            recipe=recipe,
            default_title=default_title,
        )

    def _pick(
        self,
        seeds: SeedSet,
        profile: dict[str, str],
        options: RecommendationOptions,
        size: int,
        *,
        blocklist: Blocklist | None = None,
        exclude: Collection[int] = (),
    ) -> _Found:
        """`size` picks for `seeds` through the discovery engine (filters and `exclude` in the search; dial,
        policy with `blocklist`, flow and attribution after it), each with its why; and what the policy dropped
        and why the playlist is short, when it is."""
        assert self.index is not None
        filters = SearchFilters(
            genre=options.genre,
            mood_style=options.mood_style,
            energy=options.energy,
            valence=options.valence,
            source=options.source,
        )
        plan = self.index.current_plan()
        served = self.index.served_identity()
        found = discover(
            self.index, self.repo, seeds, options, size, filters, plan, blocklist=blocklist, exclude=exclude
        )
        several = len(seeds.tracks) > 1
        picks = []
        for track, hit, pick in found.picks:
            why = explain(hit.fields, profile, hit.score)
            if several:  # which seed it answers, when there are several to answer
                why += f"; closest to “{seeds.tracks[pick.matched_seed].title}”"
            picks.append(_Pick(track=track, score=hit.score, why=why))
        shortfall = found.playlist.explanation
        if shortfall:
            log.info("playlist short", asked=size, got=len(picks), explanation=shortfall)
        return _Found(picks, plan, served, shortfall, dict(found.playlist.policy.dropped))

    def readable(self, playlist_id: str, viewer: User | None) -> Playlist:
        """A playlist `viewer` may see; private ones of others are reported as absent (no existence leak)."""
        playlist = self.repo.get(playlist_id)
        if playlist is None or (playlist.visibility != "public" and (viewer is None or viewer.id != playlist.owner_id)):
            raise NotFound(f"no playlist {playlist_id!r}")
        return playlist

    def owned(self, playlist_id: str, user: User) -> Playlist:
        """A playlist `user` may change: 404 when they cannot see it, 403 when they see it but do not own it."""
        playlist = self.readable(playlist_id, user)
        if playlist.owner_id != user.id:
            raise Forbidden("only the playlist's owner can change it")
        return playlist

    def get(self, playlist_id: str, viewer: User | None) -> PlaylistOut:
        """A stored playlist as `viewer` may see it."""
        playlist = self.readable(playlist_id, viewer)
        return self.out(playlist, owner_view=viewer is not None and viewer.id == playlist.owner_id)

    def update(self, playlist_id: str, body: PlaylistUpdate, user: User) -> PlaylistOut:
        """Rename and/or change visibility."""
        playlist = self.owned(playlist_id, user)
        if body.title is not None:
            title = body.title.strip()
            if not title:
                raise Unprocessable("title must not be blank")
            playlist.title = title
        if body.visibility is not None and body.visibility != playlist.visibility:
            playlist.visibility = body.visibility
            self.tastes.refresh(user.id)  # flushes
        self.repo.session.flush()
        out = self.out(playlist)
        self.badges.evaluate(user.id)
        return out

    def reorder(self, playlist_id: str, body: PlaylistOrder, user: User) -> PlaylistOut:
        """Reorder and/or remove tracks; adding tracks that are not in the playlist is refused."""
        playlist = self.owned(playlist_id, user)
        entries = {e.track_id: e for e in playlist.entries}
        foreign = [t for t in body.track_ids if t not in entries]
        if foreign:
            raise Unprocessable(f"tracks not in this playlist: {foreign}", foreign_track_ids=foreign)
        if len(body.track_ids) < len(entries):
            # tracks removed: the taste vector of what is left, from the served index; without one (or when it
            # fails) it is computed when next needed (social's similar_taste): an edit needs no index
            playlist.embedding = self._embedding(body.track_ids)
        self.repo.replace_entries(
            playlist,
            [(t, entries[t].score, entries[t].why) for t in body.track_ids],
            kept={t for t in body.track_ids if entries[t].kept},
        )
        if playlist.visibility == "public":  # only public playlists make up the stored taste
            self.tastes.refresh(user.id)
        refreshed = self.repo.get(playlist_id)
        assert refreshed is not None
        return self.out(refreshed)

    def _embedding(self, track_ids: list[int]) -> list[float] | None:
        """Unit mean of the tracks' vectors in the served index; None without an index or when it fails."""
        if self.index is None:
            return None
        try:
            vectors = self.index.get_vectors(track_ids)
        except Exception as exc:
            log.warning("playlist embedding left for later: index lookup failed", error=str(exc))
            return None
        return unit_mean([vectors[t] for t in track_ids if t in vectors])

    def delete(self, playlist_id: str, user: User) -> None:
        """Delete a playlist."""
        playlist = self.owned(playlist_id, user)
        public = playlist.visibility == "public"
        self.repo.delete(playlist)
        if public:  # only public playlists make up the stored taste
            self.tastes.refresh(user.id)

    def list_owned(self, user: User, page: Page) -> list[PlaylistSummary]:
        """The user's playlists, newest first."""
        return [summary(p, n, p.like_count) for p, n in self.repo.owned_by(user.id, page.limit, page.offset)]

    def out(self, playlist: Playlist, owner_view: bool = True) -> PlaylistOut:
        """The full view of a loaded playlist; others than the owner do not see which private upload seeded it."""
        seeds = self.repo.tracks_by_id(playlist.seed_track_ids)
        seed_rows = [seeds[t] for t in playlist.seed_track_ids if t in seeds]
        out = self._out(playlist, seed_rows, [(e.track, e.score, e.why, e.kept) for e in playlist.entries])
        if not owner_view and out.seed_upload_id is not None:
            hidden: dict[str, Any] = {"seed_upload_id": None, "upload_encoder_id": None, "seed_profile": {}}
            out = out.model_copy(update={"seed_upload_id": None, "recipe": {**out.recipe, **hidden}})
        return out

    @staticmethod
    def _out(
        playlist: Playlist, seeds: list[Track], chosen: list[tuple[Track, float, str | None, bool]]
    ) -> PlaylistOut:
        return PlaylistOut(
            id=playlist.id,
            title=playlist.title,
            owner_id=playlist.owner_id,
            created_at=playlist.created_at,
            updated_at=playlist.updated_at,
            visibility=playlist.visibility,
            seed_tracks=[brief(t) for t in seeds],
            seed_upload_id=(playlist.recipe or {}).get("seed_upload_id"),
            recipe=playlist.recipe,
            tracks=[
                PlaylistEntry(position=i, score=round(float(s), 6), why=why, kept=kept, **brief(t).model_dump())
                for i, (t, s, why, kept) in enumerate(chosen)
            ],
            forked_from=playlist.forked_from_id,
        )


def _default_title(seeds: list[Track]) -> str:
    first = seeds[0]
    base = f"Like “{first.title}” by {first.artist.name}"
    if len(seeds) > 1:
        base += f" and {len(seeds) - 1} more"
    return base


def _playlist_service(
    session: Session, index: TrackIndex | None, uploads: UploadService, badges: BadgeService
) -> PlaylistService:
    return PlaylistService(
        PlaylistRepository(session),
        index,
        uploads,
        badges,
        TasteRepository(session),
        blocklist_service(session, "user"),
    )


async def get_playlist_service(
    session: SessionDep, index: OptionalIndexDep, uploads: UploadServiceDep, badges: BadgeServiceDep
) -> PlaylistService:
    """The request's playlist service, with the served index when there is one (reads and edits)."""
    return _playlist_service(session, index, uploads, badges)


async def get_playlist_generator(
    session: SessionDep, index: IndexDep, uploads: UploadServiceDep, badges: BadgeServiceDep
) -> PlaylistService:
    """The request's playlist service for generating playlists: 503 when no index is served."""
    return _playlist_service(session, index, uploads, badges)


PlaylistServiceDep = Annotated[PlaylistService, Depends(get_playlist_service)]
PlaylistGeneratorDep = Annotated[PlaylistService, Depends(get_playlist_generator)]
