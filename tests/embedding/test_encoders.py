"""Encoder backends: the small random MuQ, offline loading (cache, directories, checkpoints), fallbacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from embedding.encoders import (
    CHECKPOINT_FILE,
    Encoder,
    EncoderError,
    EncoderNotCachedError,
    MuQEncoder,
    build_projection_head,
    build_small_muq,
    load_encoder,
    save_encoder_checkpoint,
    small_muq_config,
)
from museed.settings import Settings

SR = 24_000
CLIP = 2 * SR  # 2 s clips keep the tests fast; the model is length-agnostic


def clips(kind: str, n: int = 2, seed: int = 0) -> np.ndarray:
    t = np.arange(CLIP) / SR
    rng = np.random.default_rng(seed)
    if kind == "tone":
        rows = [0.3 * np.sin(2 * np.pi * (220 * (i + 1)) * t) for i in range(n)]
    elif kind == "noise":
        rows = [0.1 * rng.standard_normal(CLIP) for _ in range(n)]
    else:  # square wave: bright, harmonic
        rows = [0.3 * np.sign(np.sin(2 * np.pi * 110 * (i + 1) * t)) for i in range(n)]
    return np.stack(rows).astype(np.float32)


@pytest.fixture(scope="module")
def small() -> MuQEncoder:
    torch.set_num_threads(2)
    return load_encoder("small", settings=Settings(), device="cpu")


def test_small_muq_is_a_real_conformer_muq(small: MuQEncoder) -> None:
    from muq import MuQ

    config = small_muq_config()
    assert isinstance(small.model, MuQ)
    assert isinstance(small, Encoder)
    assert small.dim == config["encoder_dim"] == 128
    assert small.layer == config["encoder_depth"]  # the last layer for a small model
    assert small.n_hidden_states == config["encoder_depth"] + 1
    assert "id2label" not in config["w2v2_config"]
    assert set(config["stat"]) == {"melspec_2048_cnt", "melspec_2048_mean", "melspec_2048_std"}
    assert small.encoder_id.startswith("muq-small-random:seed0:")
    assert small.sample_rate == SR


def test_embed_tracks_gives_unit_vectors(small: MuQEncoder) -> None:
    vectors = small.embed_tracks([clips("tone"), clips("noise", 3), clips("square", 1)])
    assert vectors.shape == (3, small.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_tracks_is_normalised_mean_of_segment_vectors(small: MuQEncoder) -> None:
    segments = small.embed_segments(clips("tone", 3))
    assert segments.shape == (3, small.dim)
    assert not np.allclose(np.linalg.norm(segments, axis=1), 1.0)  # segment vectors are not normalised
    mean = segments.mean(axis=0)
    np.testing.assert_allclose(small.embed_tracks([clips("tone", 3)])[0], mean / np.linalg.norm(mean), atol=1e-5)


def test_same_input_gives_identical_output(small: MuQEncoder) -> None:
    batch = [clips("tone"), clips("noise")]
    np.testing.assert_array_equal(small.embed_tracks(batch), small.embed_tracks(batch))


def test_batch_size_does_not_change_vectors(small: MuQEncoder) -> None:
    one_by_one = MuQEncoder(small.model, source="small:0", kind="muq-small-random", batch_size=1, device="cpu")
    batch = [clips("tone", 3), clips("noise", 2)]
    np.testing.assert_allclose(one_by_one.embed_tracks(batch), small.embed_tracks(batch), atol=1e-5)


def test_different_audio_gives_different_vectors(small: MuQEncoder) -> None:
    tone, noise, square = small.embed_tracks([clips("tone"), clips("noise"), clips("square")])
    assert float(tone @ noise) < 0.95
    assert float(tone @ square) < 0.95


def test_same_seed_same_weights_different_seed_different_weights() -> None:
    a, b, c = (build_small_muq(s).state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    trainable = [k for k in a if "conv.conv.0.conv1.weight" in k or "layers.0.self_attn.linear_q.weight" in k]
    assert trainable and all(not torch.equal(a[k], c[k]) for k in trainable)
    assert load_encoder("small:1").config_hash != load_encoder("small:0").config_hash


def test_building_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_small_muq(5)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_describe_is_json_and_reproducible(small: MuQEncoder) -> None:
    info = small.describe()
    json.dumps(info)
    for key in ("kind", "source", "muq_config", "layer", "pooling", "dtype", "device", "config_hash", "versions"):
        assert key in info
    assert info["kind"] == "muq-small-random" and info["pooling"] == "mean" and info["dtype"] == "float32"
    assert set(info["versions"]) >= {"muq", "torch", "transformers"}
    assert load_encoder("small").config_hash == small.config_hash


def test_embedding_restores_train_mode(small: MuQEncoder) -> None:
    batch = [clips("tone")]
    before = small.embed_tracks(batch)
    small.model.train()
    try:
        np.testing.assert_array_equal(small.embed_tracks(batch), before)  # eval behaviour while embedding
        assert small.model.training
    finally:
        small.model.eval()


def _fake_hub_cache(cache: Path, repo_id: str, model: torch.nn.Module) -> str:
    """Lay out `repo_id` the way huggingface_hub caches a download (refs/main -> snapshots/<commit>)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    model.save_pretrained(repo_dir / "snapshots" / commit)  # type: ignore[operator]
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return commit


def test_hub_id_loads_from_the_offline_cache(empty_hf_cache: Path, small: MuQEncoder) -> None:
    commit = _fake_hub_cache(empty_hf_cache, "museed-test/tiny-muq", small.model)
    encoder = load_encoder("museed-test/tiny-muq")
    assert encoder.encoder_id == f"muq:museed-test/tiny-muq:L{small.layer}-mean"
    assert encoder.weights_fingerprint == f"hf:museed-test/tiny-muq@{commit}"
    batch = [clips("tone"), clips("noise")]
    np.testing.assert_array_equal(encoder.embed_tracks(batch), small.embed_tracks(batch))
    # "auto" prefers the cached hub model and does not warn
    auto = load_encoder("auto", settings=Settings(muq_local_dir=None, muq_hub_id="museed-test/tiny-muq"))
    assert auto.encoder_id == encoder.encoder_id


def test_uncached_hub_id_is_a_clear_error(empty_hf_cache: Path) -> None:
    with pytest.raises(EncoderNotCachedError, match="not in the Hugging Face cache"):
        load_encoder("OpenMuQ/MuQ-large-msd-iter")


def test_auto_does_not_hide_a_broken_cached_model(empty_hf_cache: Path, small: MuQEncoder) -> None:
    commit = _fake_hub_cache(empty_hf_cache, "museed-test/broken-muq", small.model)
    (empty_hf_cache / "models--museed-test--broken-muq" / "snapshots" / commit / "model.safetensors").unlink()
    with pytest.raises(EncoderError, match="no model"):
        load_encoder("auto", settings=Settings(muq_local_dir=None, muq_hub_id="museed-test/broken-muq"))


def test_save_pretrained_dir_loads_back(tmp_path: Path, small: MuQEncoder) -> None:
    small.model.save_pretrained(tmp_path / "muq-small")
    encoder = load_encoder(str(tmp_path / "muq-small"))
    assert encoder.encoder_id.startswith("muq-local:muq-small:")
    batch = [clips("tone"), clips("square")]
    np.testing.assert_array_equal(encoder.embed_tracks(batch), small.embed_tracks(batch))
    # settings.muq_local_dir is what "auto" uses first
    auto = load_encoder("auto", settings=Settings(muq_local_dir=tmp_path / "muq-small"))
    assert auto.config_hash == encoder.config_hash


def test_museed_checkpoint_round_trip(tmp_path: Path, small: MuQEncoder) -> None:
    path = save_encoder_checkpoint(small, tmp_path / "ckpt", extra={"note": "test"})
    meta = json.loads((path / CHECKPOINT_FILE).read_text())
    assert meta["format_version"] == 1 and meta["head"] is None and meta["layer"] == small.layer
    assert meta["base"]["kind"] == "muq-small-random"
    encoder = load_encoder(str(path))
    assert encoder.encoder_id.startswith("museed-ckpt:ckpt[muq-small-random]:")
    batch = [clips("tone"), clips("noise")]
    np.testing.assert_array_equal(encoder.embed_tracks(batch), small.embed_tracks(batch))
    assert encoder.provenance["extra"] == {"note": "test"}


def test_checkpoint_with_projection_head_round_trip(tmp_path: Path, small: MuQEncoder) -> None:
    spec = {"type": "mlp", "in_dim": small.dim, "hidden_dim": 64, "out_dim": 32, "activation": "gelu"}
    torch.manual_seed(0)
    with_head = MuQEncoder(
        small.model,
        source="small:0",
        kind="museed-ckpt",
        head=build_projection_head(spec),
        head_spec=spec,
        device="cpu",
    )
    assert with_head.dim == 32 and with_head.config_hash != small.config_hash
    path = save_encoder_checkpoint(with_head, tmp_path / "ckpt-head")
    loaded = load_encoder(str(path))
    assert loaded.dim == 32 and loaded.head_spec == spec
    batch = [clips("tone"), clips("square")]
    np.testing.assert_array_equal(loaded.embed_tracks(batch), with_head.embed_tracks(batch))


def test_checkpoint_that_does_not_match_its_config_is_rejected(tmp_path: Path, small: MuQEncoder) -> None:
    path = save_encoder_checkpoint(small, tmp_path / "ckpt")
    meta = json.loads((path / CHECKPOINT_FILE).read_text())
    meta["muq_config"]["encoder_dim"] = 256
    meta["muq_config"]["w2v2_config"]["hidden_size"] = 256
    (path / CHECKPOINT_FILE).write_text(json.dumps(meta))
    with pytest.raises(EncoderError, match="do not fit"):
        load_encoder(str(path))
    meta["format_version"] = 99
    (path / CHECKPOINT_FILE).write_text(json.dumps(meta))
    with pytest.raises(EncoderError, match="v1"):
        load_encoder(str(path))


@pytest.mark.parametrize("spec", ["bogus spec!", "small:x", "/no/such/encoder/dir", "./not-here"])
def test_bad_spec_is_an_encoder_error(spec: str) -> None:
    with pytest.raises(EncoderError):
        load_encoder(spec)


def test_directories_that_are_not_encoders(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="neither"):
        load_encoder(str(tmp_path))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(EncoderError, match="not a directory"):
        load_encoder(str(tmp_path / "weights.bin"))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EncoderError, match=r"no model\.safetensors"):
        load_encoder(str(tmp_path))
    with pytest.raises(EncoderError, match="does not exist"):
        load_encoder("auto", settings=Settings(muq_local_dir=tmp_path / "missing"))


def test_bad_segments_are_rejected(small: MuQEncoder) -> None:
    with pytest.raises(EncoderError, match="2-D"):
        small.embed_segments(np.zeros(CLIP, np.float32))
    with pytest.raises(EncoderError, match="NaN"):
        small.embed_segments(np.full((1, CLIP), np.nan, np.float32))
    with pytest.raises(EncoderError, match="no segments"):
        small.embed_tracks([clips("tone"), np.zeros((0, CLIP), np.float32)])
    assert small.embed_tracks([]).shape == (0, small.dim)
