"""B2B rules: organisations and members, API keys (secret shown once, SHA-256 stored, constant-time compare),
plans, usage, and the `/v1` recommendations, which are the listener playlists' (same service, same options)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.b2b.licences import allows_commercial_use
from api.b2b.limits import B2BLimiter, utc_now
from api.b2b.plans import PLANS, SCOPES, Plan
from api.b2b.repository import B2BRepository
from api.b2b.schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    BatchOut,
    BatchRequest,
    MetaOut,
    PlanOut,
    QueryOptions,
    RecommendationRequest,
    RecommendationsOut,
    RecommendedTrack,
    UsageOut,
    UsageRow,
)
from api.db.models import ApiKey, Organisation, OrgMember
from api.deps import OptionalIndexDep, SessionDep
from api.errors import Conflict, NotFound, ServiceUnavailable, Unauthorized, Unprocessable
from api.playlists.blocklists import blocklist_service
from api.playlists.service import PlaylistGeneratorDep, PlaylistService, Recommendation
from api.tracks.service import brief
from api.uploads.service import UploadEmbedder
from discovery.policy import Blocklist
from indexing.milvus_index import TrackIndex

log = structlog.get_logger("museed.b2b")
#: every key starts so; the public prefix is this plus 8 hex characters, then "_" and the secret
KEY_MARK = "msk_"
PREFIX_LENGTH = len(KEY_MARK) + 8
ROLES = ("admin", "member")
#: the longest usage range one request may read
MAX_USAGE_DAYS = 366
#: `commercial_use`: how many picks are asked for per result wanted, and the most picks asked for at once
COMMERCIAL_OVERFETCH = 4
MAX_COMMERCIAL_POOL = 400


def key_hash(key: str) -> str:
    """What is stored of a key: the SHA-256 of the whole key (256 random bits: no slow hash needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh (public prefix, full key)."""
    prefix = KEY_MARK + secrets.token_hex(4)
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def key_out(key: ApiKey) -> ApiKeyOut:
    """A key as lists show it."""
    return ApiKeyOut(
        id=key.id,
        org_id=key.org_id,
        prefix=key.prefix,
        name=key.name,
        plan=key.plan,
        scopes=list(key.scopes),
        created_at=key.created_at,
        rotated_at=key.rotated_at,
        revoked_at=key.revoked_at,
    )


class B2BService:
    """Organisations, members, keys and usage."""

    def __init__(
        self, repo: B2BRepository, plans: Mapping[str, Plan] = PLANS, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.repo = repo
        self.plans = plans
        self.clock = clock

    # -- organisations ------------------------------------------------------------------------------------------

    def create_org(self, name: str) -> Organisation:
        """A new organisation; 409 when the name is taken."""
        name = name.strip()
        if not name:
            raise Unprocessable("an organisation needs a name")
        if self.repo.org_by_name(name) is not None:
            raise Conflict(f"an organisation named {name!r} exists")
        org = Organisation(name=name)
        self.repo.add(org)
        return org

    def org(self, name_or_id: str) -> Organisation:
        """An organisation by id or name; 404 otherwise."""
        org = self.repo.org(name_or_id) or self.repo.org_by_name(name_or_id)
        if org is None:
            raise NotFound(f"no organisation {name_or_id!r}")
        return org

    def add_member(self, org_name_or_id: str, email: str, role: str) -> OrgMember:
        """Make the listener account `email` a member (or admin) of the organisation; an existing membership
        takes the new role."""
        if role not in ROLES:
            raise Unprocessable(f"role must be one of {ROLES}")
        org = self.org(org_name_or_id)
        user = self.repo.user_by_email(email)
        if user is None:
            raise NotFound(f"no listener account {email!r}")
        member = self.repo.member(org.id, user.id)
        if member is None:
            member = OrgMember(org_id=org.id, user_id=user.id, role=role)
            self.repo.add(member)
        else:
            member.role = role
            self.repo.session.flush()
        return member

    def is_admin(self, org_id: str, user_id: str) -> bool:
        """Whether `user_id` administers `org_id`."""
        member = self.repo.member(org_id, user_id)
        return member is not None and member.role == "admin"

    # -- keys ---------------------------------------------------------------------------------------------------

    def create_key(self, org_name_or_id: str, plan: str, scopes: Sequence[str], name: str = "") -> ApiKeyCreated:
        """A new key for the organisation; the returned `key` is the only time the secret exists outside the
        caller (the DB keeps its hash)."""
        org = self.org(org_name_or_id)
        if plan not in self.plans:
            raise Unprocessable(f"unknown plan {plan!r}; plans: {sorted(self.plans)}")
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise Unprocessable(f"scopes must be a non-empty subset of {SCOPES}")
        prefix, secret = new_key()
        key = ApiKey(
            org_id=org.id, prefix=prefix, secret_hash=key_hash(secret), name=name, plan=plan, scopes=sorted(set(scopes))
        )
        self.repo.add(key)
        log.info("api key created", org_id=org.id, prefix=prefix, plan=plan)
        return ApiKeyCreated(**key_out(key).model_dump(), key=secret)

    def list_keys(self, org_name_or_id: str | None = None) -> list[ApiKeyOut]:
        """An organisation's keys (every key when None), newest first; never the secrets."""
        org_id = self.org(org_name_or_id).id if org_name_or_id else None
        return [key_out(k) for k in self.repo.keys_of(org_id)]

    def key(self, prefix: str, org_id: str | None = None) -> ApiKey:
        """A key by prefix (within `org_id` when given); 404 otherwise."""
        key = self.repo.key_by_prefix(prefix)
        if key is None or (org_id is not None and key.org_id != org_id):
            raise NotFound(f"no API key {prefix!r}")
        return key

    def revoke_key(self, prefix: str, org_id: str | None = None) -> ApiKeyOut:
        """Revoke a key: refused by every API process from the next request (keys are read per request)."""
        key = self.key(prefix, org_id)
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            self.repo.session.flush()
            log.info("api key revoked", prefix=prefix)
        return key_out(key)

    def rotate_key(self, prefix: str, org_id: str | None = None) -> ApiKeyCreated:
        """Replace a key by a new one with the same organisation, plan, scopes and name; the old one is revoked
        at once."""
        old = self.key(prefix, org_id)
        if old.revoked_at is not None:
            raise Conflict(f"API key {prefix!r} is revoked; create a new one")
        now = datetime.now(UTC)
        old.rotated_at = old.revoked_at = now
        self.repo.session.flush()
        log.info("api key rotated", prefix=prefix)
        return self.create_key(old.org_id, old.plan, old.scopes, old.name)

    def authenticate(self, presented: str) -> ApiKey:
        """The live key `presented` names; 401 for malformed, unknown or revoked keys (constant-time compare)."""
        prefix = presented[:PREFIX_LENGTH]
        key = self.repo.key_by_prefix(prefix) if presented.startswith(KEY_MARK) else None
        digest = key_hash(presented)
        if key is None or not hmac.compare_digest(digest, key.secret_hash):
            raise Unauthorized("unknown API key", reason="invalid_key", headers={"WWW-Authenticate": "Bearer"})
        if key.revoked_at is not None:
            raise Unauthorized("this API key is revoked", reason="revoked_key", headers={"WWW-Authenticate": "Bearer"})
        return key

    def plan_of(self, key: ApiKey) -> Plan:
        """The key's plan (a plan removed from the table falls back to free)."""
        return self.plans.get(key.plan) or self.plans["free"]

    # -- usage --------------------------------------------------------------------------------------------------

    def used(self, key: ApiKey, now: datetime) -> tuple[int, int]:
        """The key's recorded queries today and this month (UTC)."""
        today = now.date()
        return (
            self.repo.key_usage_since(key.id, today, today),
            self.repo.key_usage_since(key.id, today.replace(day=1), today),
        )

    def record_usage(self, key: ApiKey, day: date, endpoint: str, count: int) -> None:
        """Count `count` answered queries."""
        if count > 0:
            self.repo.record_usage(key.org_id, key.id, day, endpoint, count)

    def usage(self, org_id: str, since: date | None, until: date | None) -> UsageOut:
        """An organisation's usage per day and endpoint (default: the last 30 days)."""
        until = until or self.clock().date()
        since = since or until - timedelta(days=29)
        if since > until or (until - since).days >= MAX_USAGE_DAYS:
            raise Unprocessable(f"since must not be after until, and the range at most {MAX_USAGE_DAYS} days")
        rows = [UsageRow(day=d, endpoint=e, count=n) for d, e, n in self.repo.usage_of_org(org_id, since, until)]
        return UsageOut(org_id=org_id, since=since, until=until, total=sum(r.count for r in rows), rows=rows)


def served_dimension(index: TrackIndex) -> int | None:
    """The vector length of the served collection (None when none is served)."""
    name = index.current_collection()
    if name is None:
        return None
    for field in index.client.describe_collection(name).get("fields", []):
        dim = (field.get("params") or {}).get("dim")
        if dim is not None:
            return int(dim)
    return None


class Recommender:
    """The `/v1` reads: recommendations through the listener playlist service, tracks, meta."""

    def __init__(self, playlists: PlaylistService, repo: B2BRepository, blocklist: Blocklist | None = None) -> None:
        self.playlists = playlists
        self.repo = repo
        assert playlists.index is not None
        self.index: TrackIndex = playlists.index
        #: the calling organisation's blocklist, applied to every answer (see `for_org`)
        self.blocklist = blocklist or Blocklist()

    def for_org(self, org_id: str) -> Recommender:
        """This recommender with the organisation's blocklist (its admins' `/v1/orgs/{org_id}/blocklist`)
        applied to every answer, and only that organisation's."""
        blocklist = blocklist_service(self.repo.session, "org").blocklist(org_id)
        return Recommender(self.playlists, self.repo, blocklist)

    def recommend(self, request: RecommendationRequest, plan: Plan) -> RecommendationsOut:
        """One query: the same picks, scores and reasons a listener playlist gets for these seeds and options."""
        if request.vector is not None:
            dim = served_dimension(self.index)
            if dim is not None and len(request.vector) != dim:
                raise Unprocessable(
                    f"vector has {len(request.vector)} dimensions; the served index has {dim}",
                    reason="wrong_dimension",
                )
        return self._answer(request, plan, request.seed_track_ids, request.vector)

    def recommend_audio(
        self, embedder: UploadEmbedder | None, filename: str, data: bytes, options: QueryOptions, plan: Plan
    ) -> RecommendationsOut:
        """One query seeded by an audio file, decoded and embedded as listener uploads are (same limits, same
        errors), then searched like a raw vector; the audio is not kept."""
        if embedder is None:
            raise ServiceUnavailable("no audio encoder is loaded in this service; audio seeds are unavailable")
        vector, _ = embedder.embed_file(filename, data)
        return self._answer(options, plan, (), vector)

    def _answer(
        self, options: QueryOptions, plan: Plan, seed_track_ids: Sequence[int], vector: Sequence[float] | None
    ) -> RecommendationsOut:
        count = min(options.count, plan.max_results)
        # the request is the playlists' options model: its filters reach the playlist service unchanged
        if options.commercial_use:
            rec = self._commercial(options, count, seed_track_ids, vector)
        else:
            rec = self.playlists.recommend(options, count, seed_track_ids, vector, self.blocklist)
        return RecommendationsOut(
            encoder_id=rec.encoder_id,
            vector_set_id=rec.vector_set_id,
            index_version=rec.collection,
            count=len(rec.picks),
            capped_by_plan=count < options.count,
            dropped=rec.dropped,
            results=[
                RecommendedTrack(rank=i, license=t.license, score=round(float(s), 6), why=why, **brief(t).model_dump())
                for i, (t, s, why) in enumerate(rec.picks)
            ],
        )

    def _commercial(
        self, options: QueryOptions, count: int, seed_track_ids: Sequence[int], vector: Sequence[float] | None
    ) -> Recommendation:
        """The first `count` picks whose licence allows commercial use. The index holds no licence field, so
        the playlist service is asked for more picks (COMMERCIAL_OVERFETCH x, growing up to MAX_COMMERCIAL_POOL)
        and the picks' catalog licences filter them."""
        size = min(count * COMMERCIAL_OVERFETCH, MAX_COMMERCIAL_POOL)
        while True:
            rec = self.playlists.recommend(options, size, seed_track_ids, vector, self.blocklist)
            kept = [p for p in rec.picks if allows_commercial_use(p[0].license)]
            if len(kept) >= count or len(rec.picks) < size or size >= MAX_COMMERCIAL_POOL:
                break
            size = min(size * COMMERCIAL_OVERFETCH, MAX_COMMERCIAL_POOL)
        if not kept:
            raise Unprocessable(
                "no library track with a licence that allows commercial use matches these seeds and filters "
                f"among the {len(rec.picks)} nearest",
                reason="no_match",
            )
        return replace(rec, picks=kept[:count], dropped={**rec.dropped, "not_commercial": len(rec.picks) - len(kept)})

    def similar(self, track_id: int, count: int, plan: Plan) -> RecommendationsOut:
        """The recommendations for one seed track and the default options; 404 for an unknown track."""
        if not self.repo.track_exists(track_id):
            raise NotFound(f"no track {track_id}")
        return self.recommend(RecommendationRequest(seed_track_ids=[track_id], count=count), plan)

    def batch(self, body: BatchRequest, plan: Plan) -> BatchOut:
        """Each query answered in order (one failing query fails the call: nothing is counted)."""
        return BatchOut(queries=[self.recommend(q, plan) for q in body.queries])

    def meta(self, plans: Mapping[str, Plan], your_plan: str, embedder: UploadEmbedder | None) -> MetaOut:
        """Catalog size, what serves the index (and the weights licence its encoder states, known when this
        process loads that encoder: the upload embedder exists only when it matches the served vectors), the
        plans."""
        served = self.index.served_identity()
        licence = None
        if embedder is not None and embedder.encoder.encoder_id == served["encoder_id"]:
            licence = getattr(embedder.encoder, "weights_licence", None)
        return MetaOut(
            catalog_size=self.repo.catalog_size(),
            indexed_tracks=self.index.count(),
            encoder_id=served["encoder_id"],
            weights_licence=licence,
            vector_set_id=served["vector_set_id"],
            index_version=served["collection"],
            dimension=served_dimension(self.index),
            plans=[PlanOut(**p.describe()) for p in plans.values()],
            your_plan=your_plan,
        )


def plans_of(request: Request) -> Mapping[str, Plan]:
    """The app's plan table (tests may set `app.state.b2b_plans`)."""
    plans: Mapping[str, Plan] = getattr(request.app.state, "b2b_plans", PLANS)
    return plans


async def get_b2b_limiter(request: Request) -> B2BLimiter:
    """The process's B2B limiter (Redis or memory), made at start-up."""
    limiter: B2BLimiter = request.app.state.b2b_limiter
    return limiter


B2BLimiterDep = Annotated[B2BLimiter, Depends(get_b2b_limiter)]


async def get_b2b_service(request: Request, session: SessionDep, limiter: B2BLimiterDep) -> B2BService:
    """The request's B2B service (the app's plans, the limiter's clock)."""
    return B2BService(B2BRepository(session), plans_of(request), limiter.clock)


def b2b_service_for(session: Session, plans: Mapping[str, Plan] = PLANS) -> B2BService:
    """A B2B service over `session` outside a request (the operator CLI)."""
    return B2BService(B2BRepository(session), plans)


async def get_recommender(playlists: PlaylistGeneratorDep, session: SessionDep, index: OptionalIndexDep) -> Recommender:
    """The request's recommender: 503 when no index is served (PlaylistGeneratorDep refuses)."""
    del index
    return Recommender(playlists, B2BRepository(session))


B2BServiceDep = Annotated[B2BService, Depends(get_b2b_service)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
