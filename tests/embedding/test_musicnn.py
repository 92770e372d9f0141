"""MusiCNN: the TF1 checkpoint reader, the PyTorch port against TensorFlow's own output, the encoder's contract."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.musicnn_reference import reference_waveform
from embedding.base import EncoderError, EncoderNotCachedError
from embedding.checkpoint import save_encoder_checkpoint
from embedding.encoders import load_encoder
from embedding.musicnn import (
    MusicnnNet,
    MusicnnNotInstalledError,
    build_musicnn,
    convert_tf_tensor,
    load_tf_weights,
    package_dir,
    tf_variable_map,
)
from embedding.musicnn_encoder import MusicnnEncoder
from embedding.tf_checkpoint import CheckpointFormatError, TFCheckpoint, crc32c
from museed.settings import Settings

pytest.importorskip("musicnn", reason="scripts/bootstrap.sh installs musicnn==0.1.0 (the weights)")
REFERENCE = Path(__file__).parent / "reference" / "musicnn_reference.npz"
SR = 16_000


@pytest.fixture(scope="module")
def msd() -> MusicnnEncoder:
    torch.set_num_threads(2)
    encoder = load_encoder("musicnn", settings=Settings(), device="cpu")
    assert isinstance(encoder, MusicnnEncoder)
    return encoder


def test_crc32c_known_answer() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)


def test_checkpoint_tensor_equals_the_data_file_bytes() -> None:
    prefix = str(package_dir() / "MSD_musicnn") + "/"
    checkpoint = TFCheckpoint(prefix)
    entry = checkpoint.entries["conv2d_5/kernel"]
    assert entry.shape == (7, 561, 1, 64)
    raw = Path(prefix + ".data-00000-of-00001").read_bytes()[entry.offset : entry.offset + entry.size]
    np.testing.assert_array_equal(checkpoint.read("conv2d_5/kernel"), np.frombuffer(raw, "<f4").reshape(entry.shape))


def test_loaded_weights_are_the_checkpoint_tensors() -> None:
    backbone = build_musicnn("MTT_musicnn")
    checkpoint = TFCheckpoint(str(package_dir() / "MTT_musicnn") + "/")
    state = backbone.net.state_dict()
    for key, (tf_name, kind) in tf_variable_map(backbone.net).items():
        np.testing.assert_array_equal(state[key].numpy(), convert_tf_tensor(checkpoint.read(tf_name), kind))


def test_corrupt_checkpoint_fails_loudly(tmp_path: Path) -> None:
    source = package_dir() / "MSD_musicnn"
    index = bytearray((source / ".index").read_bytes())
    index[10] ^= 0xFF  # inside the first data block: its checksum no longer matches
    (tmp_path / ".index").write_bytes(bytes(index))
    with pytest.raises(CheckpointFormatError, match="checksum"):
        TFCheckpoint(str(tmp_path) + "/")
    (tmp_path / ".index").write_bytes(b"\0" * 40 + struct.pack("<Q", 1))
    with pytest.raises(CheckpointFormatError, match="magic"):
        TFCheckpoint(str(tmp_path) + "/")


def test_missing_or_misshapen_tensor_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = str(package_dir() / "MSD_musicnn") + "/"
    real = TFCheckpoint.__init__

    def without_dense(self: TFCheckpoint, p: Path | str) -> None:
        real(self, p)
        del self.entries["dense/kernel"]

    monkeypatch.setattr(TFCheckpoint, "__init__", without_dense)
    with pytest.raises(EncoderError, match="dense/kernel"):
        load_tf_weights(MusicnnNet(), prefix)
    monkeypatch.undo()
    small_head = MusicnnNet(n_classes=10)  # 50 tags in the checkpoint
    with pytest.raises(EncoderError, match="dense_1/kernel has shape"):
        load_tf_weights(small_head, prefix)


@pytest.mark.parametrize("variant", ["MSD_musicnn", "MTT_musicnn"])
def test_port_matches_tensorflow_reference(variant: str) -> None:
    ref = np.load(REFERENCE)
    logmel = ref["logmel"]
    patches = torch.from_numpy(np.stack([logmel[:187], 0.5 * logmel[-187:]]).astype(np.float32))
    with torch.inference_mode():
        max_pool, mean_pool, penultimate, logits = build_musicnn(variant).net(patches)
    np.testing.assert_allclose(penultimate.numpy(), ref[f"{variant}/penultimate"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(torch.sigmoid(logits).numpy(), ref[f"{variant}/taggram"], atol=1e-5)
    np.testing.assert_allclose(mean_pool.numpy(), ref[f"{variant}/mean_pool"], atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(max_pool.numpy(), ref[f"{variant}/max_pool"], atol=1e-3, rtol=1e-4)


def test_logmel_matches_librosa_in_float32(msd: MusicnnEncoder) -> None:
    ref = np.load(REFERENCE)["logmel"]
    with torch.inference_mode():
        ours = msd.model.frontend(torch.from_numpy(reference_waveform())[None])[0].numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_encoder_contract(msd: MusicnnEncoder) -> None:
    t = np.arange(4 * SR) / SR
    clips = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (220, 880)]).astype(np.float32)
    vectors = msd.embed_segments(clips)
    assert vectors.shape == (2, 200) and msd.dim == 200 and msd.sample_rate == SR
    tracks = msd.embed_tracks([clips, clips[:1]])
    np.testing.assert_allclose(np.linalg.norm(tracks, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(msd.embed_segments(clips), vectors)  # deterministic on CPU
    described = msd.describe()
    assert described["encoder_id"] == "musicnn:MSD_musicnn:L1-mean"
    assert "ISC" in described["weights_licence"] and "Million Song Dataset" in msd.weights_licence
    json.dumps(described)
    probs = msd.tag_probabilities(clips)
    assert probs.shape == (2, 50) and ((probs >= 0) & (probs <= 1)).all() and len(msd.tags) == 50


def test_short_clip_is_one_shorter_patch(msd: MusicnnEncoder) -> None:
    out = msd.model(torch.zeros(1, SR))  # 1 s: 63 frames, fewer than one 187-frame patch
    assert out.hidden_states[1].shape == (1, 1, 200)


def test_checkpoint_round_trip_with_head(msd: MusicnnEncoder, tmp_path: Path) -> None:
    from embedding.checkpoint import build_projection_head

    spec = {"type": "linear", "in_dim": 200, "out_dim": 32}
    headed = msd.with_head(build_projection_head(spec), spec, {"base": {"kind": "musicnn"}})
    save_encoder_checkpoint(headed, tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "museed_encoder.json").read_text())
    assert meta["backbone"] == "musicnn" and meta["sample_rate"] == SR
    loaded = load_encoder(str(tmp_path / "ckpt"), settings=Settings(), device="cpu")
    assert isinstance(loaded, MusicnnEncoder) and loaded.dim == 32 and loaded.kind == "museed-ckpt"
    clips = np.random.default_rng(0).standard_normal((1, 3 * SR)).astype(np.float32) * 0.1
    np.testing.assert_allclose(loaded.embed_segments(clips), headed.embed_segments(clips), atol=1e-6)


def test_unfreeze_policy_names_top_blocks(msd: MusicnnEncoder) -> None:
    net = msd.model.net
    assert msd.backbone_modules("head") == []
    assert msd.backbone_modules("top:1") == [net.pool_bn, net.dense, net.dense_bn]
    assert msd.backbone_modules("top:2")[-1] is net.midend[2]
    assert msd.backbone_modules("all") == [net]


def test_auto_serves_musicnn_without_muq(empty_hf_cache: Path) -> None:
    encoder = load_encoder("auto", settings=Settings(muq_local_dir=None), device="cpu")
    assert encoder.encoder_id == "musicnn:MSD_musicnn:L1-mean"
    assert "not in the Hugging Face cache" in encoder.provenance["fallback_reason"]


def test_auto_without_any_pretrained_encoder_refuses(empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed() -> Path:
        raise MusicnnNotInstalledError("the musicnn package is not installed")

    monkeypatch.setattr("embedding.musicnn_encoder.package_dir", not_installed)
    with pytest.raises(EncoderNotCachedError, match="--encoder small"):
        load_encoder("auto", settings=Settings(muq_local_dir=None), device="cpu")


def test_bad_variant_is_an_error() -> None:
    with pytest.raises(EncoderError, match="unknown musicnn variant"):
        load_encoder("musicnn:XYZ", settings=Settings(), device="cpu")
