"""The app's own routes: liveness, readiness (DB and served index) and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from museed.settings import Settings


async def test_health_ready_and_tracks(client: httpx.AsyncClient, stack: dict[str, Any]) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["vector_index"]["rows"] == len(stack["vectors"])
    served = ready.json()["checks"]["vector_index"]["served"]
    vs = stack["vectors"]
    assert served["memory"]["raw_float32_bytes"] == len(vs) * vs.manifest.dim * 4
    assert served["plan"]["index_type"] and "rerank" in served["plan"]
    assert (await client.get("/metrics")).status_code == 200


async def test_what_start_up_loaded_is_frozen_out_of_the_collector(client: httpx.AsyncClient) -> None:
    """A running app has frozen what start-up made (a full collection then skips it); requests still work."""
    import gc

    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # modules, mappers, the encoder: far more than a request makes
    gc.collect()
    # a collection neither walks nor thaws them (a frozen object that dies still leaves the count)
    assert gc.get_freeze_count() > frozen - 1_000
    assert (await client.get("/healthz")).status_code == 200


class _ServedIndex:
    """A stand-in index that only says what it serves (all `_upload_embedder` reads)."""

    def __init__(self, identity: dict[str, Any]) -> None:
        self.identity = identity

    def served_identity(self) -> dict[str, Any]:
        return self.identity


def test_uploads_are_served_only_for_the_served_vector_set(tmp_path: Path) -> None:
    from api.app import _upload_embedder
    from embedding.encoders import load_encoder
    from embedding.job import manifest_for

    settings = Settings(data_dir=tmp_path, segment_seconds=2.0, segments_per_track=2)
    encoder = load_encoder("small:0", settings=settings)
    vsid = manifest_for(encoder).vector_set_id
    same = {"collection": "tracks_1", "vector_set_id": vsid, "encoder_id": encoder.encoder_id}
    made = _upload_embedder(settings, encoder, _ServedIndex(same))  # type: ignore[arg-type]
    assert made is not None and made.policy.limits.max_bytes == settings.max_upload_bytes
    assert (made.policy.sample_rate, made.policy.segment_seconds, made.policy.n_segments) == (
        encoder.sample_rate,
        2.0,
        2,
    )
    other = {**same, "vector_set_id": "another-vector-set"}
    assert _upload_embedder(settings, encoder, _ServedIndex(other)) is None  # type: ignore[arg-type]
    # collections built before the identity was stored: their name says which vector set they hold
    old = {"collection": f"tracks_{vsid}_1700000000000", "vector_set_id": None, "encoder_id": None}
    assert _upload_embedder(settings, encoder, _ServedIndex(old)) is not None  # type: ignore[arg-type]
    old_other = {**old, "collection": "tracks_another-vector-set_1700000000000"}
    assert _upload_embedder(settings, encoder, _ServedIndex(old_other)) is None  # type: ignore[arg-type]
    nothing = {"collection": None, "vector_set_id": None, "encoder_id": None}
    assert _upload_embedder(settings, encoder, _ServedIndex(nothing)) is not None  # type: ignore[arg-type]
