"""The Milvus track collection: schema, bulk load, serving alias, filtered search.

Each build writes a new collection `tracks_<vector-set>_<timestamp>`, verifies it (row count, sample recall@10
against exact search) and then points the serving alias at it, so a rebuild never takes the served collection
away; superseded collections are dropped only after a grace period (`prune`).

Engines: a Milvus server builds the FAISS-tuned IVF_PQ; Milvus Lite has no IVF_PQ and builds LITE_SUBSTITUTE with
the same nlist/nprobe (the plan records `substitute_for`). Scalar indexes: INVERTED on Lite, Trie (VARCHAR) and
STL_SORT (numbers) on the 2.3.5 server (which has no INVERTED); neither indexes ARRAY fields.

Consistency: serving searches read `Bounded` (a few hundred ms of staleness is harmless for recommendations and
saves waiting for the newest timestamp); the post-build verification reads `Strong` so it sees every inserted row.
The tuned plan (nprobe, recall) is stored in the collection's properties, so it survives an API restart.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.client.types import LoadState

from embedding.store import VectorSet
from museed.vocab import ENERGY, MOOD_STYLES, SOURCE, VALENCE

#: the most genre ids stored per track (FMA tracks list a handful; longer lists are truncated)
MAX_GENRES_PER_TRACK = 64
#: what each scalar field holds; a missing value is stored as "" (VARCHAR), -1 (INT64), [] or 0.0
SCALAR_FIELDS: dict[str, tuple[DataType, dict[str, Any]]] = {
    "genre_top": (DataType.VARCHAR, {"max_length": 64}),
    "genres_all": (DataType.ARRAY, {"element_type": DataType.INT64, "max_capacity": MAX_GENRES_PER_TRACK}),
    "mood_style": (DataType.VARCHAR, {"max_length": 16}),
    "energy": (DataType.VARCHAR, {"max_length": 16}),
    "valence": (DataType.VARCHAR, {"max_length": 16}),
    "source": (DataType.VARCHAR, {"max_length": 16}),
    "artist_id": (DataType.INT64, {}),
    "duration": (DataType.FLOAT, {}),
}
#: tag filters and the vocabulary each value must come from
TAG_VOCAB: dict[str, tuple[str, ...]] = {
    "mood_style": tuple(MOOD_STYLES),
    "energy": tuple(ENERGY),
    "valence": tuple(VALENCE),
    "source": tuple(SOURCE),
}
#: fields that get a scalar index (the ones filters and caps touch)
INDEXED_SCALARS = ("genre_top", "mood_style", "energy", "valence", "source", "artist_id")
#: Milvus Lite has no IVF_PQ; IVF_FLAT keeps the plan's nlist/nprobe and loses nothing to quantisation
LITE_SUBSTITUTE = "IVF_FLAT"
#: Milvus' largest topk (limit + offset) per search
MAX_TOPK = 16384
#: how long a looked-up alias target is trusted before asking Milvus again
ALIAS_TTL_SECONDS = 2.0
#: track ids per lookup query (keeps the `in [...]` expression well under Milvus' expression limits)
LOOKUP_BATCH = 1000
#: serving reads tolerate a bounded staleness (no wait for the newest timestamp); build checks read Strong
SERVING_CONSISTENCY = "Bounded"
VERIFY_CONSISTENCY = "Strong"
#: collection property holding the plan JSON (both Milvus Lite and the 2.3.5 server keep properties)
PLAN_PROPERTY = "museed.plan"


class VectorIndexError(RuntimeError):
    """The vector index is missing, unreachable or inconsistent."""


@dataclass(frozen=True)
class IndexPlan:
    """Vector index parameters; `nprobe` is the search-time probe count."""

    index_type: str
    metric: str = "IP"
    nlist: int = 128
    nprobe: int = 16
    m: int | None = None
    nbits: int | None = None
    #: the type the plan asked for when this engine could not build it (IVF_PQ on Milvus Lite)
    substitute_for: str | None = None

    def for_engine(self, is_lite: bool) -> IndexPlan:
        """This plan as the engine can build it: IVF_PQ becomes LITE_SUBSTITUTE on Milvus Lite (same nlist/nprobe)."""
        if is_lite and self.index_type == "IVF_PQ":
            return IndexPlan(
                index_type=LITE_SUBSTITUTE,
                metric=self.metric,
                nlist=self.nlist,
                nprobe=self.nprobe,
                substitute_for="IVF_PQ",
            )
        return self

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict."""
        return {k: v for k, v in self.__dict__.items()}

    def build_params(self) -> dict[str, Any]:
        """Milvus index params for this plan."""
        if self.index_type in ("FLAT", "AUTOINDEX"):
            return {}
        params: dict[str, Any] = {"nlist": self.nlist}
        if self.index_type == "IVF_PQ":
            params.update(m=self.m, nbits=self.nbits or 8)
        return params

    @property
    def probes_some_lists(self) -> bool:
        """True when a search probes only part of the lists (more probes could find more rows)."""
        return self.index_type not in ("FLAT", "AUTOINDEX") and self.nprobe < self.nlist

    def wider(self, factor: int = 4) -> IndexPlan:
        """The same plan probing `factor` times as many lists (at most all of them)."""
        return dataclasses.replace(self, nprobe=min(self.nlist, max(self.nprobe + 1, self.nprobe * factor)))

    def search_params(self) -> dict[str, Any]:
        """Milvus search params for this plan."""
        if self.index_type in ("FLAT", "AUTOINDEX"):
            return {"metric_type": self.metric}
        return {"metric_type": self.metric, "params": {"nprobe": self.nprobe}}


def filtered_nprobe(nprobe: int, nlist: int, share: float) -> int:
    """Lists to probe when a filter keeps `share` of the rows: nprobe / share, and every list once that passes
    half of them (a very selective filter's rows may sit in the lists farthest from the query)."""
    wanted = math.ceil(nprobe / max(share, 1e-9))
    return nlist if wanted * 2 >= nlist else max(nprobe, wanted)


def default_plan(n_vectors: int) -> IndexPlan:
    """An IVF_FLAT plan sized to the collection: nlist ~ 4*sqrt(N) but with >= 39 training points per list
    (FAISS/Knowhere's k-means minimum); tiny collections get a handful of lists probed exhaustively."""
    n = max(n_vectors, 1)
    nlist = int(max(1, min(4096, 4 * np.sqrt(n), n // 39)))
    return IndexPlan(index_type="IVF_FLAT", nlist=nlist, nprobe=default_plan_nprobe(nlist))


def default_plan_nprobe(nlist: int) -> int:
    """Probe every list of a small index, an eighth of a large one (recall-tuned plans come from FAISS)."""
    return nlist if nlist <= 16 else max(16, nlist // 8)


@dataclass
class SearchHit:
    """One search result: a track, its similarity (inner product of unit vectors) and its scalar fields."""

    track_id: int
    score: float
    fields: dict[str, Any] = field(default_factory=dict)


def _quote(value: str) -> str:
    """A Milvus string literal (JSON escaping handles quotes and backslashes)."""
    return json.dumps(value, ensure_ascii=False)


class FilterError(ValueError):
    """A search filter names an unknown field or a value outside the tag vocabulary."""


@dataclass(frozen=True)
class SearchFilters:
    """What a search may be restricted to; tag values must come from `museed.vocab`."""

    genre: str | None = None
    genre_id: int | None = None  # any level of the genre tree (matches `genres_all`)
    mood_style: str | None = None
    energy: str | None = None
    valence: str | None = None
    source: str | None = None

    def tags(self) -> dict[str, str]:
        """The tag filters that are set, validated against the vocabulary."""
        out = {}
        for name, vocab in TAG_VOCAB.items():
            value = getattr(self, name)
            if value is None:
                continue
            if value not in vocab:
                raise FilterError(f"{name}={value!r} is not one of {list(vocab)}")
            out[name] = value
        return out


def build_filter(
    genre: str | None = None,
    exclude_ids: Sequence[int] = (),
    equals: dict[str, str] | None = None,
    genre_id: int | None = None,
    exclude_artists: Sequence[int] = (),
) -> str:
    """A Milvus boolean expression for the given filters ("" when none)."""
    parts = []
    if genre:
        parts.append(f"genre_top == {_quote(genre)}")
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


@dataclass
class BuildCheck:
    """What the post-load verification of a new collection measured."""

    collection: str
    rows: int
    sample_queries: int
    sample_recall: float
    plan: IndexPlan


class TrackIndex:
    """The serving view of the Milvus track collection (an alias over versioned collections)."""

    def __init__(self, uri: str, alias: str = "tracks", token: str | None = None) -> None:
        self.uri = uri
        self.alias = alias
        self.client = MilvusClient(uri=uri, token=token or "")
        self.is_lite = not uri.startswith(("http://", "https://", "tcp://", "grpc://"))
        self.last_check: BuildCheck | None = None
        self._plans: dict[str, IndexPlan] = {}  # per collection: a collection's index never changes
        self._counts: dict[tuple[str, str], int] = {}  # (collection, filter) -> matching rows
        self._identities: dict[str, dict[str, Any]] = {}  # collection -> its stored plan (vector set, encoder)
        self._alias_seen: tuple[str | None, float] | None = None  # (collection, monotonic time looked up)

    @property
    def engine(self) -> str:
        """ "milvus-lite" or "milvus-server"."""
        return "milvus-lite" if self.is_lite else "milvus-server"

    def close(self) -> None:
        """Release the client connection."""
        self.client.close()

    def ensure_loaded(self) -> str | None:
        """Load the served collection into memory unless it already is; returns its name (None before the
        first build). Milvus Lite starts every process with its collections released, and a server restart or
        an operator's `release` does the same: searches would fail until this runs."""
        name = self.current_collection()
        if name is None:
            return None
        state = self.client.get_load_state(collection_name=name).get("state")
        if str(state) != str(LoadState.Loaded):
            self.client.load_collection(collection_name=name)
        return name

    # ---- building -------------------------------------------------------------------------------
    def build(
        self,
        vectors: VectorSet,
        metadata: dict[int, dict[str, Any]],
        plan: IndexPlan | None = None,
        batch: int = 2000,
        progress: Callable[[int, int], None] | None = None,
        plan_info: dict[str, Any] | None = None,
        min_recall: float = 0.0,
        sample_queries: int = 50,
    ) -> str:
        """Write a new versioned collection from `vectors` (+ scalar `metadata` per track), index, load and
        verify it (row count, self-hits, recall@10 of `sample_queries` vs exact search >= `min_recall`), then move
        the serving alias to it. IVF_PQ becomes LITE_SUBSTITUTE on Milvus Lite. Returns the new collection's name;
        `last_check` holds what the verification measured."""
        plan = (plan or default_plan(len(vectors))).for_engine(self.is_lite)
        name = f"{self.alias}_{vectors.manifest.vector_set_id}_{int(time.time() * 1000)}"
        dim = int(vectors.manifest.dim)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("track_id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        for fname, (dtype, kwargs) in SCALAR_FIELDS.items():
            schema.add_field(fname, dtype, **kwargs)
        self.client.create_collection(collection_name=name, schema=schema)
        try:
            # the plan travels with the collection, so a restarted API searches with the tuned nprobe
            stored = {
                **(plan_info or {}),
                **plan.to_json(),
                "alias": self.alias,
                "engine": self.engine,
                "vector_set_id": vectors.manifest.vector_set_id,
                "encoder_id": vectors.manifest.encoder_id,
            }
            self.client.alter_collection_properties(name, properties={PLAN_PROPERTY: json.dumps(stored)})
            ids = vectors.track_ids
            for start in range(0, len(ids), batch):
                rows = [
                    _row(int(ids[i]), vectors.vectors[i], metadata.get(int(ids[i]), {}), vectors, i)
                    for i in range(start, min(start + batch, len(ids)))
                ]
                self.client.insert(collection_name=name, data=rows)
                if progress:
                    progress(min(start + batch, len(ids)), len(ids))
            self.client.flush(collection_name=name)
            # index after the bulk insert: one build over sealed data instead of many small ones
            self.client.create_index(collection_name=name, index_params=self._index_params(plan))
            self._wait_indexed(name, len(vectors))
            self.client.load_collection(collection_name=name)
            self.last_check = self._verify(name, vectors, plan, min_recall, sample_queries)
        except Exception:
            self.client.drop_collection(name)
            raise
        self._point_alias(name)
        return name

    def _index_params(self, plan: IndexPlan) -> Any:
        """The vector index plus one scalar index per filtered field (INVERTED on Lite; Trie/STL_SORT on 2.3.5)."""
        index_params = self.client.prepare_index_params()
        index_params.add_index(
            # nested "params": the one encoding both Milvus Lite and the server read (flat keys are lost on Lite)
            field_name="vector",
            index_type=plan.index_type,
            metric_type=plan.metric,
            params={"params": plan.build_params()},
        )
        for fname in INDEXED_SCALARS:
            is_text = SCALAR_FIELDS[fname][0] == DataType.VARCHAR
            kind = "INVERTED" if self.is_lite else ("Trie" if is_text else "STL_SORT")
            index_params.add_index(field_name=fname, index_type=kind, index_name=f"{fname}_idx")
        return index_params

    def _wait_indexed(self, name: str, rows: int, timeout: float = 1800.0) -> None:
        """Block until the server reports every row indexed (it builds asynchronously after create_index)."""
        deadline = time.monotonic() + timeout
        while True:
            desc = self.client.describe_index(collection_name=name, index_name="vector")
            if desc.get("state") == "Finished" and int(desc.get("indexed_rows", 0)) >= rows:
                return
            if desc.get("state") == "Failed":
                raise VectorIndexError(f"index build failed on {name}: {desc.get('index_state_fail_reason')}")
            if time.monotonic() > deadline:
                raise VectorIndexError(f"index on {name} not built after {timeout:.0f} s: {desc}")
            time.sleep(0.5)

    def _verify(
        self, name: str, vectors: VectorSet, plan: IndexPlan, min_recall: float, sample_queries: int
    ) -> BuildCheck:
        stats = self.client.get_collection_stats(name)
        count = int(stats.get("row_count", 0))
        if count != len(vectors):
            raise VectorIndexError(f"collection {name} holds {count} rows after load, expected {len(vectors)}")
        # sample recall@10 against exact inner-product search over every vector (and each probe finds itself)
        rng = np.random.default_rng(0)
        rows = rng.choice(len(vectors), size=min(sample_queries, len(vectors)), replace=False)
        probe = vectors.vectors[rows]
        k = min(10, len(vectors))
        truth = np.argsort(-(probe @ vectors.vectors.T), axis=1)[:, :k]
        res = self.client.search(
            collection_name=name,
            data=probe.tolist(),
            limit=k,
            anns_field="vector",
            search_params=plan.search_params(),
            output_fields=["track_id"],
            consistency_level=VERIFY_CONSISTENCY,
        )
        ids = vectors.track_ids
        found_self = sum(bool(r) and _hit_id(r[0]) == int(ids[i]) for r, i in zip(res, rows, strict=True))
        recall = float(
            np.mean(
                [len({_hit_id(h) for h in r} & {int(ids[j]) for j in t}) / k for r, t in zip(res, truth, strict=True)]
            )
        )
        if found_self < len(probe) - max(1, len(probe) // 10):
            raise VectorIndexError(f"collection {name}: only {found_self}/{len(probe)} probe vectors find themselves")
        if recall < min_recall:
            raise VectorIndexError(f"collection {name}: sample recall@{k} {recall:.3f} < required {min_recall:.3f}")
        return BuildCheck(collection=name, rows=count, sample_queries=len(probe), sample_recall=recall, plan=plan)

    def _point_alias(self, name: str) -> None:
        """Create or atomically move the serving alias to `name`."""
        if self.current_collection(fresh=True) is None:
            self.client.create_alias(collection_name=name, alias=self.alias)
        else:
            self.client.alter_alias(collection_name=name, alias=self.alias)
        self._alias_seen = (name, time.monotonic())

    def versions(self) -> list[tuple[str, int]]:
        """Every collection built for this alias with its build time (ms since the epoch), oldest first."""
        out = []
        for name in self.client.list_collections():
            stamp = name.rsplit("_", 1)[-1]
            if not name.startswith(f"{self.alias}_") or not stamp.isdigit():
                continue
            # the property tells our collections from those of an alias that merely shares the prefix
            if self.stored_plan(name).get("alias") != self.alias:
                continue
            out.append((name, int(stamp)))
        return sorted(out, key=lambda item: item[1])

    def prune(self, keep_previous: int = 1, grace_seconds: float = 600.0, now: float | None = None) -> list[str]:
        """Drop superseded collections beyond the newest `keep_previous`, once replaced >= `grace_seconds` ago
        (queries that resolved the alias before the swap finish on the old collection first). Returns the dropped."""
        served = self.current_collection(fresh=True)
        versions = self.versions()
        now_ms = (time.time() if now is None else now) * 1000
        dropped: list[str] = []
        older = [(i, name) for i, (name, _) in enumerate(versions) if name != served]
        for rank, (i, name) in enumerate(reversed(older)):
            # replaced when the next newer collection was built
            replaced_ms = versions[i + 1][1] if i + 1 < len(versions) else now_ms
            if rank >= keep_previous and now_ms - replaced_ms >= grace_seconds * 1000:
                self.client.drop_collection(name)
                self._plans.pop(name, None)
                dropped.append(name)
        return dropped

    def current_collection(self, fresh: bool = False) -> str | None:
        """The collection the serving alias points at (None before the first build). Serving reads may see a
        swap made by another process up to `ALIAS_TTL_SECONDS` late (searches themselves go through the alias,
        and a replaced collection lives on for its grace period); `fresh` asks Milvus now."""
        seen = self._alias_seen
        if not fresh and seen is not None and time.monotonic() - seen[1] < ALIAS_TTL_SECONDS:
            return seen[0]
        # list first: describe_alias on a missing alias raises and logs an RPC error on the server
        if self.alias not in (self.client.list_aliases().get("aliases") or []):
            name = None
        else:
            info = self.client.describe_alias(alias=self.alias)
            name = str(info.get("collection_name")) if info else None
        self._alias_seen = (name, time.monotonic())
        return name

    def stored_plan(self, name: str) -> dict[str, Any]:
        """The plan JSON saved in collection `name`'s properties ({} when absent)."""
        props = self.client.describe_collection(name).get("properties") or {}
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
        desc = self.client.describe_index(collection_name=name, index_name="vector")
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
        )
        self._plans[name] = plan
        return plan

    def count(self) -> int:
        """Rows in the served collection."""
        name = self.current_collection()
        return int(self.client.get_collection_stats(name)["row_count"]) if name else 0

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
        query = [np.asarray(vector, dtype=np.float32).tolist()]
        chosen: list[SearchHit] = []
        per_artist: dict[int, int] = {}
        excluded = [int(t) for t in exclude_ids]
        capped: list[int] = []
        cap = max_per_artist or 0
        probe = plan
        scope = build_filter(genre=genre or filters.genre, equals=tags, genre_id=filters.genre_id)
        if scope and plan.probes_some_lists:
            matching = self.count_matching(scope)
            if matching == 0:
                return []
            share = matching / max(1, self.count_matching(""))
            probe = dataclasses.replace(plan, nprobe=filtered_nprobe(plan.nprobe, plan.nlist, share))
        while len(chosen) < k:
            need = k - len(chosen)
            # with a cap, over-fetch so one round usually suffices; the rounds below handle the rest
            limit = min(MAX_TOPK, need if max_per_artist is None else need * 4)
            expr = build_filter(
                genre=genre or filters.genre,
                exclude_ids=excluded,
                equals=tags,
                genre_id=filters.genre_id,
                exclude_artists=capped,
            )
            res = self.client.search(
                collection_name=self.alias,
                data=query,
                limit=limit,
                anns_field="vector",
                filter=expr,
                search_params=probe.search_params(),
                output_fields=["track_id", *SCALAR_FIELDS],
                consistency_level=consistency_level,
            )[0]
            for h in res:
                hit = SearchHit(track_id=_hit_id(h), score=float(h["distance"]), fields=dict(h.get("entity") or {}))
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

    def count_matching(self, expr: str) -> int:
        """Rows of the served collection matching a filter expression (cached per collection: a collection
        never changes once it serves)."""
        name = self.current_collection()
        key = (name or "", expr)
        if key not in self._counts:
            rows = self.client.query(collection_name=self.alias, filter=expr, output_fields=["count(*)"])
            self._counts[key] = int(rows[0]["count(*)"]) if rows else 0
        return self._counts[key]

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
            rows = self.client.query(
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


def _hit_id(hit: dict[str, Any]) -> int:
    """The primary key of a search hit (Milvus Lite names it after the field, the server calls it `id`)."""
    if "track_id" in hit:
        return int(hit["track_id"])
    if "id" in hit:
        return int(hit["id"])
    return int(hit["entity"]["track_id"])


def _row(track_id: int, vector: np.ndarray, meta: dict[str, Any], vectors: VectorSet, i: int) -> dict[str, Any]:
    """One Milvus row: the vector plus scalar fields (missing tags stored as "", unknown ids as -1)."""
    artist = meta.get("artist_id")
    duration = meta.get("duration")
    if duration is None or not np.isfinite(float(duration)):
        duration = float(vectors.duration_seconds[i]) if vectors.duration_seconds is not None else 0.0
    return {
        "track_id": track_id,
        "vector": vector.tolist(),
        "genre_top": str(meta.get("genre_top") or ""),
        "genres_all": [int(g) for g in (meta.get("genres_all") or [])][:MAX_GENRES_PER_TRACK],
        "mood_style": str(meta.get("mood_style") or ""),
        "energy": str(meta.get("energy") or ""),
        "valence": str(meta.get("valence") or ""),
        "source": str(meta.get("source") or ""),
        "artist_id": int(artist) if artist is not None else -1,
        "duration": float(duration),
    }
