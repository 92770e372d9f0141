"""MuQ-MuLan from local files only: a small random MuQ-MuLan embeds audio and text, and the MuLan tagger runs on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from embedding.encoders import EncoderNotCachedError
from embedding.job import SegmentPolicy, TrackAudio, embed_plain
from embedding.mulan import SMALL_MULAN_KIND, MuLanAudioEncoder, build_small_mulan, load_mulan
from museed.catalog import load_catalog
from museed.tags import TAGS_FILE, read_tags
from museed.vectorset import load_vector_set
from museed.vocab import AXES
from synth import synthesize_corpus
from tagging import MULAN_TAGGER, PROMPTS, all_prompt_texts, label_text_vectors, run_tag, tag_from_embeddings


@pytest.fixture(scope="module")
def mulan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # conftest: no hub access at all
    return tmp_path_factory.mktemp("small-mulan")


@pytest.fixture(scope="module")
def mulan(mulan_dir: Path) -> MuLanAudioEncoder:
    return build_small_mulan(mulan_dir, seed=0, texts=all_prompt_texts())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mulan-corpus")
    synthesize_corpus(root, tracks=12, seconds=4.0, seed=5, workers=1)
    return root


def test_small_mulan_is_built_from_local_files(mulan_dir: Path, mulan: MuLanAudioEncoder) -> None:
    # the layout MuQMuLan's constructor needs: backbone dirs named so it picks MuQ and XLM-RoBERTa
    assert (mulan_dir / "muq-small" / "config.json").is_file()
    assert (mulan_dir / "xlm-roberta-small" / "tokenizer.json").is_file()
    config = json.loads((mulan_dir / "mulan" / "config.json").read_text())
    assert "muq" in config["audio_model"]["name"] and "xlm-roberta" in config["text_model"]["name"]
    assert (mulan_dir / "mulan" / "pytorch_model.bin").is_file()  # the only weights file MuLan ships
    assert mulan.encoder_id.startswith(f"{SMALL_MULAN_KIND}:seed0:")
    assert mulan.describe()["space"] == "mulan" and mulan.sample_rate == 24_000


def test_small_mulan_embeds_audio_and_text(mulan_dir: Path, mulan: MuLanAudioEncoder) -> None:
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal((2, 24_000 * 3)).astype(np.float32), np.zeros((1, 24_000 * 3), np.float32)]
    audio = mulan.embed_tracks(clips)
    texts = mulan.embed_texts(["a happy acoustic folk song", "dark electronic music", "words never seen before"])
    for vectors, n in ((audio, 2), (texts, 3)):
        assert vectors.shape == (n, mulan.dim) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # reloading the saved directory (the path real weights take) gives the same model
    again = load_mulan(f"mulan:{mulan_dir / 'mulan'}")
    assert again.encoder_id == mulan.encoder_id
    assert np.allclose(again.embed_texts(["dark electronic music"]), texts[1:2], atol=1e-5)
    labels = label_text_vectors(mulan)
    assert {a: m.shape for a, m in labels.items()} == {a: (len(v), mulan.dim) for a, v in AXES.items()}
    assert all(len(PROMPTS[a][label]) >= 3 for a, v in AXES.items() for label in v)  # prompt ensembles


def test_mulan_tagging_end_to_end(mulan: MuLanAudioEncoder, corpus: Path, tmp_path: Path) -> None:
    catalog = load_catalog(corpus)
    tracks = [TrackAudio(int(t), p) for t, p in zip(catalog.tracks.index, catalog.tracks["audio_path"], strict=True)]
    vectors = tmp_path / "mulan-vectors"
    policy = SegmentPolicy(sample_rate=mulan.sample_rate, segment_seconds=4.0, n_segments=1)
    report = embed_plain(tracks, mulan, vectors, policy=policy)
    assert report.done == len(tracks) and report.failed == 0
    vs = load_vector_set(vectors)
    tags = tag_from_embeddings(vs, mulan, catalog)
    assert [t.track_id for t in tags] == [int(t) for t in vs.track_ids]
    for t in tags:
        t.validate()
        assert t.tagger == MULAN_TAGGER and t.genre == catalog.tracks.loc[t.track_id, "genre_top"]
        assert set(t.margins) == set(AXES) and all(m >= 0 for m in t.margins.values())
    # the CLI stage: the text tower is found from the vector set's manifest; random weights, so no accuracy bar
    out = tmp_path / "tags" / TAGS_FILE
    run = run_tag(corpus, out, mulan_vectors=vectors, tagger="auto")
    assert run.tagger == MULAN_TAGGER and run.tagged == len(tracks) and run.quality is not None
    assert {t.tagger for t in read_tags(out).values()} == {MULAN_TAGGER}


def test_hub_mulan_is_never_downloaded() -> None:
    with pytest.raises(EncoderNotCachedError, match="not in the Hugging Face cache"):
        load_mulan("mulan")
