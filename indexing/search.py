"""Serving the Milvus track collection: the serving alias (resolved with a short TTL), the plan of the served
collection (its tuned nprobe kept in the collection's properties, so it survives an API restart), filtered
search with a per-artist cap, row lookups and the served identity.

Consistency: serving searches read `Bounded` (a few hundred ms of staleness is harmless for recommendations and
saves waiting for the newest timestamp).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from pymilvus import MilvusClient
from pymilvus.client.types import LoadState
from pymilvus.exceptions import ConnectError, ConnectionNotExistException, MilvusException, MilvusUnavailableException

from indexing.compact import CompactStore, CompactStoreError
from indexing.filters import FilterError, SearchFilters, build_filter, filtered_nprobe, filtered_rerank
from indexing.plan import IndexPlan, default_plan_nprobe
from indexing.schema import PLAN_PROPERTY, SCALAR_FIELDS, TAG_VOCAB
from museed.errors import PipelineError
from museed.vocab import GENRE_AXIS

#: Milvus' largest topk (limit + offset) per search
MAX_TOPK = 16384
#: how long a looked-up alias target is trusted before asking Milvus again
ALIAS_TTL_SECONDS = 2.0
#: track ids per lookup query (keeps the `in [...]` expression well under Milvus' expression limits)
LOOKUP_BATCH = 1000
#: serving reads tolerate a bounded staleness (no wait for the newest timestamp)
SERVING_CONSISTENCY = "Bounded"


#: how long loading the served collection may take
LOAD_TIMEOUT_SECONDS = 300.0
#: after a server call fails for want of the server, calls fail at once for this long, then one tries again
UNREACHABLE_COOLDOWN_SECONDS = 1.0


class VectorIndexError(PipelineError, RuntimeError):
    """The vector index is missing, unreachable or inconsistent."""


class VectorIndexUnavailable(VectorIndexError):
    """The Milvus server cannot be reached (down, frozen past the call timeout, or cooling down after that)."""


def _not_loaded(exc: BaseException) -> bool:
    """Whether Milvus refused because the collection is not loaded (after a server restart or a release)."""
    return isinstance(exc, MilvusException) and (exc.code == 101 or "not loaded" in str(exc))


def _unreachable(exc: BaseException) -> bool:
    """Whether a client error means "no server to talk to" rather than a bad request."""
    if isinstance(exc, grpc.RpcError | TimeoutError):
        return True
    if isinstance(exc, ConnectError | ConnectionNotExistException | MilvusUnavailableException):
        return True
    if isinstance(exc, MilvusException):
        # pymilvus wraps gRPC failures (UNAVAILABLE, DEADLINE_EXCEEDED) and its retry deadline in MilvusException
        message = str(exc)
        return (
            isinstance(exc.code, grpc.StatusCode)
            or exc.code == 2
            or "Retry timeout" in message
            or "Fail connecting" in message
            or "server unavailable" in message
        )
    return False


@dataclass
class SearchHit:
    """One search result: a track, its similarity (inner product of unit vectors) and its scalar fields."""

    track_id: int
    score: float
    fields: dict[str, Any] = field(default_factory=dict)


class ServingIndex:
    """The serving view of the Milvus track collection (an alias over versioned collections); building lives in
    `indexing.build.TrackIndex`."""

    def __init__(self, uri: str, alias: str = "tracks", token: str | None = None, timeout: float | None = None) -> None:
        self.uri = uri
        self.alias = alias
        self._token = token or ""
        #: seconds per serving call (pymilvus retries with backoff inside it); None waits as long as pymilvus does
        self.timeout = timeout
        self.client = MilvusClient(uri=uri, token=self._token, timeout=timeout)
        self.is_lite = not uri.startswith(("http://", "https://", "tcp://", "grpc://"))
        self._down_until = 0.0  # monotonic time before which the server counts as unreachable
        self._reopen = False  # a client that lost its server does not reconnect: the next try opens a new one
        self._reload = False  # the served collection must be loaded again (a restarted server forgets loads)
        self._plans: dict[str, IndexPlan] = {}  # per collection: a collection's index never changes
        self._counts: dict[tuple[str, str], int] = {}  # (collection, filter) -> matching rows
        self._identities: dict[str, dict[str, Any]] = {}  # collection -> its stored plan (vector set, encoder)
        self._alias_seen: tuple[str | None, float] | None = None  # (collection, monotonic time looked up)
        self._stores: dict[str, CompactStore | None] = {}  # collection -> its compact store (None: none usable)
        self._store_errors: dict[str, str] = {}  # collection -> why its compact store is not used

    @property
    def engine(self) -> str:
        """ "milvus-lite" or "milvus-server"."""
        return "milvus-lite" if self.is_lite else "milvus-server"

    def close(self) -> None:
        """Release the client connection."""
        self.client.close()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`self.client.<method>(...)` with the serving timeout; a server that cannot be reached raises
        `VectorIndexUnavailable`, at once while it cools down, and a new client is opened once it may be back
        (so the service recovers without a restart when Milvus returns). A restarted server serves its
        collections released: the first call after an outage (or a "not loaded" answer) loads the served one."""
        if self.is_lite:
            return getattr(self.client, method)(*args, **kwargs)
        if time.monotonic() < self._down_until:
            raise VectorIndexUnavailable(f"the Milvus server at {self.uri} is unreachable; retrying shortly")
        if self.timeout is not None:
            kwargs.setdefault("timeout", self.timeout)
        try:
            if self._reopen:
                with contextlib.suppress(Exception):  # the old connection is gone already
                    self.client.close()
                self.client = MilvusClient(uri=self.uri, token=self._token, timeout=self.timeout)
                self._reopen, self._reload = False, True
            if self._reload:
                self._reload = False  # before looking: the calls below come back through here
                try:
                    self._load_served()
                except Exception:
                    self._reload = True
                    raise
            result = getattr(self.client, method)(*args, **kwargs)
        except VectorIndexUnavailable:
            raise
        except Exception as exc:
            if _not_loaded(exc):
                self._reload = True
                raise VectorIndexUnavailable(f"the served collection is not loaded on {self.uri}: {exc}") from exc
            if not _unreachable(exc):
                raise
            self._down_until = time.monotonic() + UNREACHABLE_COOLDOWN_SECONDS
            self._reopen = True
            raise VectorIndexUnavailable(f"the Milvus server at {self.uri} is unreachable: {exc}") from exc
        return result

    def _load_served(self) -> None:
        """Start loading the served collection unless it is loaded; `VectorIndexUnavailable` until it is (a
        large collection takes a while: requests get 503 meanwhile instead of waiting for it)."""
        name = self.current_collection(fresh=True)
        if name is None:
            return
        state = self.load_state(name)
        if state == str(LoadState.Loaded):
            return
        if state != str(LoadState.Loading):
            self._call("load_collection", collection_name=name, _async=True)
        raise VectorIndexUnavailable(f"the served collection {name} is being loaded on {self.uri}")

    def load_state(self, name: str) -> str:
        """The load state of collection `name` ("Loaded", "NotLoad", ...)."""
        return str(self._call("get_load_state", collection_name=name).get("state"))

    def ensure_loaded(self) -> str | None:
        """Load the served collection into memory unless it already is; returns its name (None before the
        first build). Milvus Lite starts every process with its collections released, and a server restart or
        an operator's `release` does the same: searches would fail until this runs."""
        self._reload = False  # this loads and waits: no asynchronous load of the serving path is needed
        name = self.current_collection()
        if name is None:
            return None
        if self.load_state(name) != str(LoadState.Loaded):
            # loading reads the segments into memory: far longer than a serving call may take
            self._call("load_collection", collection_name=name, timeout=LOAD_TIMEOUT_SECONDS)
        return name

    def current_collection(self, fresh: bool = False) -> str | None:
        """The collection the serving alias points at (None before the first build). Serving reads may see a
        swap made by another process up to `ALIAS_TTL_SECONDS` late (searches themselves go through the alias,
        and a replaced collection lives on for its grace period); `fresh` asks Milvus now."""
        seen = self._alias_seen
        if not fresh and seen is not None and time.monotonic() - seen[1] < ALIAS_TTL_SECONDS:
            return seen[0]
        # list first: describe_alias on a missing alias raises and logs an RPC error on the server
        if self.alias not in (self._call("list_aliases").get("aliases") or []):
            name = None
        else:
            info = self._call("describe_alias", alias=self.alias)
            name = str(info.get("collection_name")) if info else None
        self._alias_seen = (name, time.monotonic())
        return name

    def stored_plan(self, name: str) -> dict[str, Any]:
        """The plan JSON saved in collection `name`'s properties ({} when absent)."""
        props = self._call("describe_collection", name).get("properties") or {}
        raw = props.get(PLAN_PROPERTY)
        try:
            return dict(json.loads(raw)) if raw else {}
        except json.JSONDecodeError:
            return {}

    def current_plan(self) -> IndexPlan:
        """The plan of the served collection: the built index as Milvus describes it, with the tuned nprobe
        stored in the collection's properties (a default nprobe for collections built without one)."""
        name = self.current_collection()
        if name is None:
            raise VectorIndexError(f"no collection behind alias {self.alias!r}: run `museed index` first")
        if name in self._plans:
            return self._plans[name]
        desc = self._call("describe_index", collection_name=name, index_name="vector")
        params = desc.get("params") or {}
        if isinstance(params, str):
            params = json.loads(params)
        nlist = int(params.get("nlist", desc.get("nlist", 1)))
        stored = self.stored_plan(name)
        plan = IndexPlan(
            index_type=str(desc.get("index_type", "FLAT")),
            metric=str(desc.get("metric_type", "IP")),
            nlist=nlist,
            nprobe=int(stored.get("nprobe") or default_plan_nprobe(nlist)),
            m=int(params["m"]) if "m" in params else (int(desc["m"]) if "m" in desc else None),
            nbits=int(params["nbits"]) if "nbits" in params else (int(desc["nbits"]) if "nbits" in desc else None),
            substitute_for=stored.get("substitute_for"),
            rerank=int(stored.get("rerank") or 0),
            exact_max_rows=int(stored.get("exact_max_rows") or 0),
        )
        self._plans[name] = plan
        return plan

    def count(self) -> int:
        """Rows in the served collection."""
        name = self.current_collection()
        return int(self._call("get_collection_stats", name)["row_count"]) if name else 0

    # ---- serving --------------------------------------------------------------------------------
    def search(
        self,
        vector: np.ndarray,
        k: int,
        genre: str | None = None,
        exclude_ids: Sequence[int] = (),
        plan: IndexPlan | None = None,
        *,
        filters: SearchFilters | None = None,
        max_per_artist: int | None = None,
        consistency_level: str = SERVING_CONSISTENCY,
    ) -> list[SearchHit]:
        """Top-`k` tracks by inner product with `vector` (unit vectors: cosine), restricted by `genre` / `filters`,
        without `exclude_ids`, and with at most `max_per_artist` tracks per artist.

        The cap is applied exactly even when the filter is very selective: artists that reached the cap are
        excluded in the next round and the search repeats until `k` tracks are found or the candidates run out.

        A filter that keeps a share s of the rows probes nprobe / s lists, and all of them once that passes
        half (`filtered_nprobe`): the matches near the query are then about as many as an unfiltered search
        sees, and a rare genre far from the seed is still found (with the tuned nprobe alone its tracks sit in
        lists the probe never reaches).

        With a compact store (`indexing.compact`) and a plan that asks for it, a filter keeping at most
        `plan.exact_max_rows` rows is answered exactly in process (no Milvus call), and the index's top
        `plan.rerank` candidates (`filtered_rerank`: more under a filter) are re-ranked by the store's vectors.
        """
        filters = filters or SearchFilters()
        if genre is not None and filters.genre is not None and genre != filters.genre:
            raise FilterError(f"two different genres asked for: {genre!r} and {filters.genre!r}")
        if max_per_artist is not None and max_per_artist < 1:
            raise FilterError("max_per_artist must be at least 1")
        if k < 1:
            return []
        tags = filters.tags()
        plan = plan or self.current_plan()
        store = self.compact_store() if plan.rerank or plan.exact_max_rows else None
        share: float | None = None
        if store is not None:
            wanted_genre = genre or filters.genre
            equals = {**tags, **({GENRE_AXIS.milvus_field: wanted_genre} if wanted_genre else {})}
            rows = store.matching_rows(equals, filters.genre_id)
            if rows is not None and len(rows) <= plan.exact_max_rows:
                # few rows: a scan of exactly those rows is faster than a Milvus request and has recall 1.0
                found = store.exact(np.asarray(vector), rows, k, exclude_ids, max_per_artist)
                return [SearchHit(t, score, store.fields(row)) for t, score, row in found]
            share = None if rows is None else len(rows) / max(1, len(store))
        rerank = store is not None and plan.rerank > 0
        depth = filtered_rerank(plan.rerank, share) if rerank and share else plan.rerank
        query = [np.asarray(vector, dtype=np.float32).tolist()]
        chosen: list[SearchHit] = []
        per_artist: dict[int, int] = {}
        excluded = [int(t) for t in exclude_ids]
        capped: list[int] = []
        cap = max_per_artist or 0
        probe = plan
        scope = build_filter(genre=genre or filters.genre, equals=tags, genre_id=filters.genre_id)
        if scope and plan.probes_some_lists:
            if share is None:
                share = self.count_matching(scope) / max(1, self.count_matching(""))
            if share == 0:
                return []
            probe = dataclasses.replace(plan, nprobe=filtered_nprobe(plan.nprobe, plan.nlist, share))
        while len(chosen) < k:
            need = k - len(chosen)
            # with a cap, over-fetch so one round usually suffices; the rounds below handle the rest
            limit = min(MAX_TOPK, max(need if max_per_artist is None else need * 4, depth if rerank else 0))
            expr = build_filter(
                genre=genre or filters.genre,
                exclude_ids=excluded,
                equals=tags,
                genre_id=filters.genre_id,
                exclude_artists=capped,
            )
            res = self._call(
                "search",
                collection_name=self.alias,
                data=query,
                limit=limit,
                anns_field="vector",
                filter=expr,
                search_params=probe.search_params(),
                # re-ranking reads the fields from the compact store: fewer bytes back from the server
                output_fields=["track_id"] if rerank else ["track_id", *SCALAR_FIELDS],
                consistency_level=consistency_level,
            )[0]
            # without a cap one round answers: only the best `need` re-ranked candidates are read
            keep = need if max_per_artist is None else len(res)
            for hit in self._hits(res, np.asarray(vector), store if rerank else None, keep):
                excluded.append(hit.track_id)
                artist = int(hit.fields.get("artist_id", -1))
                capping = cap > 0 and artist >= 0  # unknown artists (-1) are not one artist
                if capping and per_artist.get(artist, 0) >= cap:
                    if artist not in capped:
                        capped.append(artist)
                    continue
                if len(chosen) < k:
                    chosen.append(hit)
                    per_artist[artist] = per_artist.get(artist, 0) + 1
                    if capping and per_artist[artist] >= cap and artist not in capped:
                        capped.append(artist)
            if len(res) < limit and probe.probes_some_lists:
                # a selective filter can leave the probed lists short of matches while other lists hold more:
                # widen the probe (4x per round, up to every list) before concluding the candidates ran out
                probe = probe.wider()
                continue
            if len(res) < limit or max_per_artist is None:
                break  # the candidates ran out (or no cap: one exact-size round is the answer)
        chosen.sort(key=lambda h: h.score, reverse=True)
        return chosen

    def _hits(
        self, res: Sequence[dict[str, Any]], vector: np.ndarray, store: CompactStore | None, keep: int
    ) -> list[SearchHit]:
        """Search hits in Milvus' order, or re-ranked by the compact store's vectors (exact order, exact scores
        up to the store's quantisation) when a store is given: then only the best `keep` (building each hit's
        fields costs ~10 us, more than scoring hundreds of candidates)."""
        if store is None:
            return [SearchHit(hit_id(h), float(h["distance"]), dict(h.get("entity") or {})) for h in res]
        ranked = store.rerank(vector, [hit_id(h) for h in res])[:keep]
        return [SearchHit(t, score, store.fields(row)) for t, score, row in ranked]

    def compact_store(self) -> CompactStore | None:
        """The served collection's compact store (written at build, path in its properties), loaded once per
        process and memory-mapped; None when it has none or it cannot be read (searches then use Milvus alone)."""
        name = self.current_collection()
        if name is None:
            return None
        if name not in self._stores:
            info = self.stored_plan(name).get("compact_store") or {}
            store = None
            if info:
                try:
                    store = CompactStore.load(info["path"])
                    if len(store) != int(info.get("rows", -1)):
                        wrote = info.get("rows")
                        raise CompactStoreError(f"{info['path']} holds {len(store)} rows, the build wrote {wrote}")
                except CompactStoreError as exc:
                    self._store_errors[name] = str(exc)
                    store = None
            self._stores[name] = store
        return self._stores[name]

    def describe(self) -> dict[str, Any]:
        """The served plan and what it keeps in memory, for `/readyz` and reports: the plan, rows, the index's
        vector bytes (PQ codes), the compact store's bytes (per worker, memory-mapped: shared by workers on one
        host) and both against the raw float32 vectors."""
        plan = self.current_plan()
        name = self.current_collection()
        rows = self.count()
        dim = int(self.stored_plan(name or "").get("dim") or 0) if name else 0
        store = self.compact_store()
        index_bytes = plan.vector_bytes(rows, dim)
        store_bytes = store.vector_bytes if store is not None else 0
        raw = rows * dim * 4
        return {
            "collection": name,
            "rows": rows,
            "dim": dim,
            "plan": plan.to_json(),
            "engine": self.engine,
            "compact_store": None
            if store is None
            else {"dtype": store.dtype, "vector_bytes": store_bytes, "field_bytes": store.field_bytes},
            "compact_store_error": self._store_errors.get(name or ""),
            "memory": {
                "index_vector_bytes": index_bytes,
                "compact_store_bytes": store_bytes,
                "raw_float32_bytes": raw,
                "share_of_raw": round((index_bytes + store_bytes) / raw, 4) if raw else None,
            },
        }

    def count_matching(self, expr: str) -> int:
        """Rows of the served collection matching a filter expression (cached per collection: a collection
        never changes once it serves)."""
        name = self.current_collection()
        key = (name or "", expr)
        if key not in self._counts:
            rows = self._call("query", collection_name=self.alias, filter=expr, output_fields=["count(*)"])
            self._counts[key] = int(rows[0]["count(*)"]) if rows else 0
        return self._counts[key]

    def candidate_vectors(self, track_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Vectors to choose among candidates with: the compact store's (dequantised int8 or float16: the vectors
        a re-ranked search scored by, cosine within ~1e-3 of the stored ones) when the served collection has a
        store, else the stored vectors (`get_vectors`). With a store this is no round trip: reading a 400-track
        pool's vectors back from Milvus cost more API CPU than the rest of the re-rank (docs/BENCHMARKS.md,
        "CPU per request"). Ids the store lacks are read from Milvus."""
        store = self.compact_store()
        if store is None or not len(track_ids):
            return self.get_vectors(track_ids)
        ids = [int(t) for t in track_ids]
        rows = store.rows_of(ids)
        found = rows >= 0
        vectors = store.vectors(rows[found])
        out = {t: vectors[i] for i, t in enumerate(np.asarray(ids)[found].tolist())}
        missing = [t for t, ok in zip(ids, found.tolist(), strict=True) if not ok]
        return {**out, **self.get_vectors(missing)} if missing else out

    def get_vectors(self, track_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors of `track_ids` (those not in the index are absent from the result)."""
        return {t: row["vector"] for t, row in self.get_rows(track_ids, fields=("vector",)).items()}

    def get_rows(
        self, track_ids: Sequence[int], fields: Sequence[str] = ("vector", *SCALAR_FIELDS)
    ) -> dict[int, dict[str, Any]]:
        """Stored `fields` of `track_ids` (vector as a float32 array; empty tags as None); tracks that are not
        in the index are absent from the result."""
        ids = sorted({int(t) for t in track_ids})
        out: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), LOOKUP_BATCH):
            chunk = ids[start : start + LOOKUP_BATCH]
            rows = self._call(
                "query",
                collection_name=self.alias,
                filter=f"track_id in [{', '.join(str(t) for t in chunk)}]",
                output_fields=["track_id", *fields],
            )
            for r in rows:
                row = {f: r.get(f) for f in fields}
                if "vector" in row:
                    row["vector"] = np.asarray(r["vector"], dtype=np.float32)
                for name in TAG_VOCAB:
                    if name in row and not row[name]:
                        row[name] = None
                out[int(r["track_id"])] = row
        return out

    def served_identity(self) -> dict[str, Any]:
        """What the served collection was built from: collection name, vector-set id and encoder id (None
        when the collection predates these properties)."""
        name = self.current_collection()
        if name is not None and name not in self._identities:
            self._identities[name] = self.stored_plan(name)  # written at build, never changed afterwards
        stored = self._identities.get(name, {}) if name else {}
        return {
            "collection": name,
            "vector_set_id": stored.get("vector_set_id"),
            "encoder_id": stored.get("encoder_id"),
        }


def hit_id(hit: dict[str, Any]) -> int:
    """The primary key of a search hit (Milvus Lite names it after the field, the server calls it `id`)."""
    if "track_id" in hit:
        return int(hit["track_id"])
    if "id" in hit:
        return int(hit["id"])
    return int(hit["entity"]["track_id"])
