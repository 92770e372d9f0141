"""The tagging stage: JSONL schema and vocabulary, the DSP tagger vs synthetic ground truth, calibration, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from museed.catalog import load_catalog
from museed.tags import TAGS_FILE, ground_truth_tags, read_tags
from museed.vocab import AXES
from synth import synthesize_corpus
from tagging import (
    DSP_TAGGER,
    FAILURES_FILE,
    REPORT_JSON,
    REPORT_MD,
    TaggingError,
    TagRunReport,
    calibrate_scores,
    run_tag,
    tag_from_embeddings,
)

N_TRACKS = 96
# Bars for the 96-track, 6-s corpus of seed 3 (measured figures in docs/TAGGING.md). Chance is 1/3 for energy and
# 1/2 for source; with 96 tracks one standard error of an accuracy is <= 0.05, so those bars sit 4+ standard errors
# above chance and below the measured figures. Valence is the DSP tagger's weak axis (55 % on this corpus, 60 % on
# 300 x 10 s): its bar only guards against a regression to chance or an inverted sign, it does not claim more.
MIN_ACCURACY = {"affect.energy": 0.70, "affect.valence": 0.53, "instrumentation.source": 0.70}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tag-corpus")
    synthesize_corpus(root, tracks=N_TRACKS, seconds=6.0, seed=3, workers=2)
    return root


@pytest.fixture(scope="module")
def dsp_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> TagRunReport:
    out = tmp_path_factory.mktemp("tags") / TAGS_FILE
    return run_tag(corpus, out, tagger="dsp", workers=2)


def test_jsonl_schema_vocabulary_and_one_line_per_track(corpus: Path, dsp_run: TagRunReport) -> None:
    lines = dsp_run.out.read_text().splitlines()
    catalog = load_catalog(corpus)
    assert len(lines) == len(catalog.tracks) == N_TRACKS == dsp_run.tagged
    ids = []
    for line in lines:
        rec = json.loads(line)
        assert set(rec) == {
            "track_id", "tagger", "genre", "instrumentation", "affect", "mood_style", "margins", "low_confidence"
        }  # fmt: skip
        assert rec["tagger"] == DSP_TAGGER
        assert rec["instrumentation"]["source"] in AXES["instrumentation.source"]
        assert rec["affect"]["valence"] in AXES["affect.valence"]
        assert rec["affect"]["energy"] in AXES["affect.energy"]
        assert rec["mood_style"] in AXES["mood_style"]
        assert set(rec["margins"]) == set(AXES) and all(m >= 0 for m in rec["margins"].values())
        assert set(rec["low_confidence"]) <= set(AXES)
        assert rec["genre"] == catalog.tracks.loc[rec["track_id"], "genre_top"]  # genre from metadata
        ids.append(rec["track_id"])
    assert sorted(ids) == sorted(int(t) for t in catalog.tracks.index)
    assert len(read_tags(dsp_run.out)) == N_TRACKS  # the shared reader accepts it
    assert dsp_run.failed == 0 and not (dsp_run.out.parent / FAILURES_FILE).exists()


def test_dsp_tagger_beats_chance_on_synthetic_ground_truth(corpus: Path, dsp_run: TagRunReport) -> None:
    truth = ground_truth_tags(corpus / "synth_ground_truth.csv")
    tags = read_tags(dsp_run.out)
    accuracy = {
        axis: float(np.mean([tags[t].axis(axis) == truth[t].axis(axis) for t in tags])) for axis in MIN_ACCURACY
    }
    print("DSP accuracy on the 96 x 6 s corpus (seed 3):", accuracy)
    for axis, bar in MIN_ACCURACY.items():
        assert accuracy[axis] >= bar, (axis, accuracy[axis])
    mood = float(np.mean([tags[t].mood_style == truth[t].mood_style for t in tags]))
    assert mood > 0.25  # four styles: above uniform chance
    # the report agrees with this computation and has every part the issue asks for
    assert dsp_run.quality is not None
    for axis, acc in accuracy.items():
        assert dsp_run.quality["axes"][axis]["accuracy"] == pytest.approx(acc)
    report = json.loads((dsp_run.out.parent / REPORT_JSON).read_text())
    assert set(report["axes"]) == set(AXES)
    confusion = report["axes"]["affect.energy"]["confusion"]
    assert sum(sum(row.values()) for row in confusion.values()) == N_TRACKS
    assert "Rock" in report["per_genre"] and 0 <= report["any_low_confidence_share"] <= 1
    md = (dsp_run.out.parent / REPORT_MD).read_text()
    assert "confusion" in md and "Label distribution per genre" in md


def test_calibration_stops_one_label_swallowing_an_axis() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(200, 3))
    raw = 0.02 * signal + np.array([0.30, 0.10, 0.05])  # label 0 sits far above the others for every track
    assert set(raw.argmax(axis=1)) == {0}
    calibrated = calibrate_scores(raw).argmax(axis=1)
    shares = np.bincount(calibrated, minlength=3) / len(calibrated)
    assert shares.min() > 0.2  # every label now wins where its own score is relatively high
    # z-scoring removes each label's offset and scale exactly: the same decisions as on the bare signal
    assert np.array_equal(calibrated, calibrate_scores(signal).argmax(axis=1))


def test_tag_from_embeddings_refuses_non_mulan_vectors() -> None:
    from museed.vectorset import VectorSet, VectorSetManifest

    manifest = VectorSetManifest(encoder_id="muq:OpenMuQ/MuQ-large-msd-iter:L10-mean", config_hash="x", dim=4)
    vs = VectorSet(manifest, np.array([1]), np.ones((1, 4), np.float32), np.array([1]), np.array([5.0]))

    class _Text:
        dim = 4

        def embed_texts(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 4), np.float32) / 2

    with pytest.raises(TaggingError, match="not a MuQ-MuLan"):
        tag_from_embeddings(vs, _Text(), None)


def test_cli_tag_limit_and_clear_errors(corpus: Path, tmp_path: Path) -> None:
    from orchestration.cli import app

    runner = CliRunner()
    out = tmp_path / TAGS_FILE
    result = runner.invoke(app, ["tag", "--fma", str(corpus), "--out", str(out), "--tagger", "dsp", "--limit", "12"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 12
    # auto with no MuLan vectors and no weights in the (offline, empty) HF cache: DSP, announced
    result = runner.invoke(app, ["tag", "--fma", str(corpus), "--out", str(out), "--limit", "12"])
    assert result.exit_code == 0, result.output
    assert "NO MuQ-MuLan AVAILABLE" in result.output and "dsp-v1" in result.output
    # mulan explicitly asked for but unavailable: a clear CLI error, no traceback
    result = runner.invoke(app, ["tag", "--fma", str(corpus), "--out", str(out), "--tagger", "mulan"])
    assert result.exit_code == 2 and "MuLan tagging is not possible" in result.output
    result = runner.invoke(app, ["tag", "--fma", str(tmp_path / "nope"), "--out", str(out)])
    assert result.exit_code == 2 and "error" in result.output
