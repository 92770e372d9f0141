"""The Milvus track collection on Milvus Lite and on a real Milvus server."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from indexing.milvus_index import IndexPlan, TrackIndex, build_filter, default_plan
from museed.vectorset import VectorSet, VectorSetManifest

GENRES = ["Rock", "Electronic", "Easy Listening"]


def clustered_vectors(n: int = 600, dim: int = 32, seed: int = 0, encoder_id: str = "enc") -> tuple[VectorSet, dict]:
    """Unit vectors around one centre per genre; Easy Listening is rare (2 % of tracks)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GENRES), dim))
    genre_idx = rng.choice(len(GENRES), size=n, p=[0.6, 0.38, 0.02])
    v = centres[genre_idx] + 0.6 * rng.normal(size=(n, dim))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(100, 100 + n, dtype=np.int64)
    vs = VectorSet(
        manifest=VectorSetManifest(encoder_id=encoder_id, config_hash="c" * 64, dim=dim),
        track_ids=ids,
        vectors=v,
        n_segments=np.ones(n, dtype=np.int32),
        duration_seconds=np.full(n, 30.0, dtype=np.float32),
    )
    meta = {int(t): {"genre_top": GENRES[g], "artist_id": int(t) % 40} for t, g in zip(ids, genre_idx, strict=True)}
    return vs, meta


def test_filter_expressions_escape_strings() -> None:
    assert build_filter() == ""
    assert build_filter(genre="Rock") == 'genre_top == "Rock"'
    assert build_filter(genre='Old-Time / "Historic"', exclude_ids=[3, 4]) == (
        'genre_top == "Old-Time / \\"Historic\\"" and track_id not in [3, 4]'
    )
    with pytest.raises(ValueError):
        build_filter(equals={"password": "x"})


def test_default_plan_respects_kmeans_minimum() -> None:
    assert default_plan(300).nlist == 7 and default_plan(300).nprobe == 7
    big = default_plan(90_000)
    assert big.nlist == int(4 * np.sqrt(90_000)) and big.nprobe == big.nlist // 8


def test_build_search_filter_and_alias(milvus_uri: str, unique_alias: str, tmp_path: Path) -> None:
    vs, meta = clustered_vectors()
    index = TrackIndex(milvus_uri, alias=unique_alias)
    try:
        assert index.current_collection() is None
        name = index.build(vs, meta)
        assert index.current_collection() == name
        assert index.count() == len(vs)
        plan = index.current_plan()
        assert plan.index_type == "IVF_FLAT" and plan.nlist == default_plan(len(vs)).nlist

        # a track finds itself first, with cosine ~1
        q = vs.vectors[0]
        hits = index.search(q, k=10)
        assert hits[0].track_id == int(vs.track_ids[0]) and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

        # exact answer for comparison: the filtered top-10 by brute force
        rare = [t for t, m in meta.items() if m["genre_top"] == "Easy Listening"]
        assert 3 <= len(rare) < 30
        filtered = index.search(q, k=50, genre="Easy Listening")
        assert {h.track_id for h in filtered} == set(rare)  # every rare track, nothing else
        assert all(h.fields["genre_top"] == "Easy Listening" for h in filtered)

        excluded = index.search(q, k=5, exclude_ids=[int(vs.track_ids[0])])
        assert int(vs.track_ids[0]) not in {h.track_id for h in excluded}

        got = index.get_vectors([int(vs.track_ids[1]), 999_999])
        assert set(got) == {int(vs.track_ids[1])}
        np.testing.assert_allclose(got[int(vs.track_ids[1])], vs.vectors[1], rtol=1e-5)
    finally:
        index.close()


def test_rebuild_swaps_alias_without_failed_queries(milvus_uri: str, unique_alias: str) -> None:
    vs1, meta1 = clustered_vectors(seed=1, encoder_id="enc-1")
    vs2, meta2 = clustered_vectors(seed=2, encoder_id="enc-2")
    index = TrackIndex(milvus_uri, alias=unique_alias)
    first = index.build(vs1, meta1)
    errors: list[BaseException] = []
    served = 0
    stop = threading.Event()

    def query_loop() -> None:
        nonlocal served
        reader = TrackIndex(milvus_uri, alias=unique_alias) if not index.is_lite else index
        plan = IndexPlan(index_type="IVF_FLAT", nlist=1, nprobe=16)
        while not stop.is_set():
            try:
                assert len(reader.search(vs1.vectors[0], k=5, plan=plan)) == 5
                served += 1
            except BaseException as exc:  # any failure during the swap is the bug under test
                errors.append(exc)
                return

    worker = threading.Thread(target=query_loop)
    worker.start()
    try:
        second = index.build(vs2, meta2)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not errors, errors
    assert served > 0
    assert second != first and index.current_collection() == second
    index.close()


def tagged(meta: dict) -> dict:
    """Tag fields from museed.vocab, assigned by track id (so expected counts are known)."""
    moods = ["dreamy", "driving", "playful", "somber"]
    return {
        t: {
            **m,
            "mood_style": moods[t % 4],
            "energy": ["high", "medium", "low"][t % 3],
            "valence": ["positive", "negative"][t % 2],
            "source": "acoustic" if t % 5 else "electronic",
            "genres_all": [1, 7] if m["genre_top"] == "Rock" else [2],
            "duration": 30.0,
        }
        for t, m in meta.items()
    }


def test_plan_honoured_and_persisted(milvus_uri: str, unique_alias: str) -> None:
    vs, meta = clustered_vectors(n=800)
    tuned = IndexPlan(index_type="IVF_PQ", nlist=8, nprobe=3, m=8, nbits=8)
    index = TrackIndex(milvus_uri, alias=unique_alias)
    try:
        name = index.build(vs, meta, plan=tuned, plan_info={"recall": 0.97, "vector_set_id": "vs"}, sample_queries=20)
        desc = index.client.describe_index(collection_name=name, index_name="vector")
        if index.is_lite:
            # Milvus Lite has no IVF_PQ: the substitute keeps the plan's nlist and nprobe, and says so
            assert desc["index_type"] == "IVF_FLAT" and int(desc.get("nlist") or desc["params"]["nlist"]) == 8
        else:
            params = desc.get("params") or desc
            assert desc["index_type"] == "IVF_PQ"
            assert (int(params["nlist"]), int(params["m"]), int(params["nbits"])) == (8, 8, 8)
        assert index.last_check is not None and index.last_check.sample_queries == 20
        assert index.last_check.sample_recall > 0.3
        # a fresh client (an API restart) reads the tuned nprobe back from the collection's properties
        restarted = TrackIndex(milvus_uri, alias=unique_alias) if not index.is_lite else index
        restarted._plans.clear()
        plan = restarted.current_plan()
        assert plan.nprobe == 3 and plan.nlist == 8
        assert plan.substitute_for == ("IVF_PQ" if index.is_lite else None)
        assert restarted.stored_plan(name)["recall"] == 0.97
    finally:
        index.close()


def test_filtered_nprobe_scales_with_the_share_and_goes_exhaustive() -> None:
    from indexing.milvus_index import filtered_nprobe

    assert filtered_nprobe(16, 1200, 1.0) == 16
    assert filtered_nprobe(16, 1200, 28_428 / 90_000) == 51  # a common genre: ~3x the probes
    assert filtered_nprobe(16, 1200, 1_372 / 90_000) == 1200  # past half the lists: all of them
    assert filtered_nprobe(16, 1200, 0.0) == 1200
    assert filtered_nprobe(1, 16, 0.6) == 2


def test_a_selective_filter_widens_the_probe_until_the_matches_run_out(milvus_uri: str, unique_alias: str) -> None:
    from indexing.milvus_index import SearchFilters

    vs, meta = clustered_vectors(n=1200)
    index = TrackIndex(milvus_uri, alias=unique_alias)
    try:
        # one probed list of 16: a query from a common genre sees few or no rows of the rare one there
        index.build(vs, meta, plan=IndexPlan(index_type="IVF_FLAT", nlist=16, nprobe=1), sample_queries=10)
        rare = {t for t, m in meta.items() if m["genre_top"] == "Easy Listening"}
        common_seed = next(i for i, t in enumerate(vs.track_ids) if meta[int(t)]["genre_top"] == GENRES[0])
        q = vs.vectors[common_seed]
        hits = index.search(q, k=len(rare) + 10, filters=SearchFilters(genre="Easy Listening"))
        assert {h.track_id for h in hits} == rare  # every rare track, and only those
        order = [int(t) for t in np.argsort(-(vs.vectors @ q)) if int(vs.track_ids[t]) in rare]
        assert [h.track_id for h in hits] == [int(vs.track_ids[t]) for t in order]
        capped = index.search(q, k=5, filters=SearchFilters(genre="Easy Listening"), max_per_artist=1)
        assert len(capped) == 5 and len({int(h.fields["artist_id"]) for h in capped}) == 5
        # fewer than all of them: the probe scales with the filter's share, so the top 5 are the exact top 5
        # (without that, the lists near a Rock seed hold no Easy Listening at all)
        top5 = index.search(q, k=5, filters=SearchFilters(genre="Easy Listening"))
        assert [h.track_id for h in top5] == [int(vs.track_ids[t]) for t in order[:5]]
        assert index.count_matching(build_filter(genre="Easy Listening")) == len(rare)
        assert index.search(q, k=5, filters=SearchFilters(genre="Jazz")) == []  # matches nothing: no search
        # the first round already probes nprobe / share lists: 1 / (24 / 1200) -> all 16 here; unfiltered: 1
        probes: list[int] = []
        real_search = index.client.search

        def spy(*args: object, **kwargs: object) -> object:
            probes.append(kwargs["search_params"]["params"]["nprobe"])  # type: ignore[index]
            return real_search(*args, **kwargs)

        index.client.search = spy  # type: ignore[method-assign]
        index.search(q, k=5, filters=SearchFilters(genre="Easy Listening"))
        index.search(q, k=5, filters=SearchFilters(genre=GENRES[0]))
        index.search(q, k=5)
        share = sum(m["genre_top"] == GENRES[0] for m in meta.values()) / len(meta)
        assert probes == [16, int(np.ceil(1 / share)), 1]
    finally:
        index.close()


def test_a_released_collection_is_loaded_again(milvus_uri: str, unique_alias: str) -> None:
    vs, meta = clustered_vectors(n=200)
    index = TrackIndex(milvus_uri, alias=unique_alias)
    try:
        name = index.build(vs, meta)
        index.client.release_collection(collection_name=name)  # what a server restart or `release` leaves
        with pytest.raises(Exception, match=r"(?i)load"):
            index.search(vs.vectors[0], k=5)
        assert index.ensure_loaded() == name and index.ensure_loaded() == name  # idempotent
        assert index.search(vs.vectors[0], k=5)[0].track_id == int(vs.track_ids[0])
        if index.is_lite:
            # a new process on the same Milvus Lite file (an API restart) finds every collection released
            index.close()
            index = TrackIndex(milvus_uri, alias=unique_alias)
            assert index.ensure_loaded() == name
            assert index.search(vs.vectors[0], k=5)[0].track_id == int(vs.track_ids[0])
    finally:
        index.close()


def test_tag_filters_rare_genre_and_artist_cap(milvus_uri: str, unique_alias: str) -> None:
    from indexing.milvus_index import FilterError, SearchFilters

    vs, meta = clustered_vectors()
    meta = tagged(meta)
    index = TrackIndex(milvus_uri, alias=unique_alias)
    try:
        index.build(vs, meta)  # the default plan probes every list of this small index: exact counts
        q = vs.vectors[0]
        rare_dreamy = {t for t, m in meta.items() if m["genre_top"] == "Easy Listening" and m["mood_style"] == "dreamy"}
        hits = index.search(q, k=100, filters=SearchFilters(genre="Easy Listening", mood_style="dreamy"))
        assert {h.track_id for h in hits} == rare_dreamy and rare_dreamy

        want = {t for t, m in meta.items() if m["energy"] == "low" and m["source"] == "electronic"}
        hits = index.search(q, k=500, filters=SearchFilters(energy="low", source="electronic"))
        assert {h.track_id for h in hits} == want
        assert all(h.fields["energy"] == "low" and h.fields["source"] == "electronic" for h in hits)

        rock = {t for t, m in meta.items() if m["genre_top"] == "Rock"}
        assert {h.track_id for h in index.search(q, k=1000, filters=SearchFilters(genre_id=7))} == rock

        with pytest.raises(FilterError):
            index.search(q, k=5, filters=SearchFilters(mood_style="angry"))

        # per-artist cap under a selective filter: every artist once, best track first, until artists run out
        rare_artists = {meta[t]["artist_id"] for t in rare_dreamy}
        capped = index.search(q, k=50, filters=SearchFilters(genre="Easy Listening"), max_per_artist=1)
        artists = [int(h.fields["artist_id"]) for h in capped]
        assert len(artists) == len(set(artists)) and rare_artists <= set(artists)
        easy = [t for t, m in meta.items() if m["genre_top"] == "Easy Listening"]
        assert len(capped) == len({meta[t]["artist_id"] for t in easy})
        by_artist: dict[int, float] = {}
        for t in easy:  # each artist's representative is its best-scoring track
            s = float(vs.vectors[vs.index_of()[t]] @ q)
            by_artist[meta[t]["artist_id"]] = max(s, by_artist.get(meta[t]["artist_id"], -2.0))
        for h in capped:
            assert h.score == pytest.approx(by_artist[int(h.fields["artist_id"])], abs=1e-4)

        two = index.search(q, k=60, max_per_artist=2)
        counts: dict[int, int] = {}
        for h in two:
            counts[int(h.fields["artist_id"])] = counts.get(int(h.fields["artist_id"]), 0) + 1
        assert len(two) == 60 and max(counts.values()) <= 2
    finally:
        index.close()


def test_prune_keeps_previous_after_grace(tmp_path: Path, unique_alias: str) -> None:
    vs, meta = clustered_vectors(n=300)
    index = TrackIndex(str(tmp_path / "m.db"), alias=unique_alias)
    try:
        names = [index.build(vs, meta, sample_queries=5) for _ in range(3)]
        assert [n for n, _ in index.versions()] == names
        assert index.prune(keep_previous=0, grace_seconds=3600) == []  # inside the grace period: nothing dropped
        assert index.prune(keep_previous=1, grace_seconds=0) == [names[0]]
        assert [n for n, _ in index.versions()] == names[1:] and index.current_collection() == names[2]
        assert index.prune(keep_previous=0, grace_seconds=0) == [names[1]]
        assert index.search(vs.vectors[0], k=3)[0].track_id == int(vs.track_ids[0])
    finally:
        index.close()


def test_run_index_with_tags_and_plan_file(small_corpus: Path, small_vectors: Path, tmp_path: Path) -> None:
    """`museed index` end to end on Milvus Lite: tag fields filled from the tags file, the plan file's IVF_PQ
    substituted (same nlist/nprobe) and announced, the previous collection kept then pruned."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from indexing.faiss_tuning import TunedPlan
    from indexing.milvus_index import SearchFilters
    from museed.settings import Settings
    from museed.tags import ground_truth_tags, write_tags
    from museed.vectorset import load_vector_set
    from orchestration.stages import run_index

    truth = ground_truth_tags(small_corpus / "synth_ground_truth.csv")
    tags_file = tmp_path / "tags.jsonl"
    assert write_tags(tags_file, truth.values()) == len(truth)
    vs = load_vector_set(small_vectors)
    plan_file = TunedPlan(
        vector_set_id=vs.manifest.vector_set_id, n_vectors=len(vs), dim=vs.manifest.dim, metric="IP", k=10,
        recall_target=0.95, nlist=2, m=vs.manifest.dim // 4, nbits=8, nprobe=2, recall=0.97, ms_per_query=0.1,
        meets_target=True, n_queries=10, train_size=50, seconds=0.1,
    ).write(tmp_path / "plan.json")  # fmt: skip
    settings = Settings(data_dir=tmp_path / "data", milvus_alias="tracks_cli")
    first = run_index(small_vectors, small_corpus, settings, tags_path=tags_file, plan_path=plan_file)
    assert (first.index_type, first.substitute_for, first.nlist, first.nprobe) == ("IVF_FLAT", "IVF_PQ", 2, 2)
    assert first.plan_source == "plan-file" and first.tagged_tracks == first.rows == len(vs)
    second = run_index(small_vectors, small_corpus, settings, tags_path=tags_file, plan_path=plan_file, grace_seconds=0)
    assert second.dropped == []  # --keep-previous 1: the first collection stays for rollback

    index = TrackIndex(settings.milvus_target, alias="tracks_cli")
    try:
        low = {t for t, tag in truth.items() if tag.energy == "low" and t in set(vs.track_ids.tolist())}
        hits = index.search(vs.vectors[0], k=len(vs), filters=SearchFilters(energy="low"))
        assert {h.track_id for h in hits} == low
        assert index.prune(keep_previous=0, grace_seconds=0) == [first.collection]
        with TestClient(create_app(settings=settings, track_index=index)) as client:
            ready = client.get("/readyz").json()["checks"]["vector_index"]
        assert ready["index_type"] == "IVF_FLAT" and ready["substitute_for"] == "IVF_PQ" and ready["nprobe"] == 2
    finally:
        index.close()
