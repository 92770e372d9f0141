"""`evaluation.test_split`: the artist-disjoint test population, k-NN among other artists' test tracks only,
paired differences, and the choice of the served vector set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.inputs import EvaluatedSet, EvaluationConfig, EvaluationError, Inputs
from evaluation.test_split import (
    SERVED_SET_JSON,
    choose_served_set,
    paired,
    score_split,
    serving_decision,
    split_mask,
    truth_label_sets,
    write_choice,
)
from museed.catalog import Catalog, CatalogReport
from museed.tags import TrackTags, ground_truth_tags, write_tags
from museed.vectorset import VectorSetManifest, VectorSetWriter, load_vector_set

# (track_id, artist_id, FMA split, genre, angle in degrees): the test split holds artists 10, 20 and 30; the
# training track 7 sits right next to track 1 with another genre, so it must never be anyone's neighbour
TRACKS = [
    (1, 10, "test", "Rock", 0.0),
    (2, 10, "test", "Rock", 1.0),
    (3, 20, "test", "Rock", 10.0),
    (4, 30, "test", "Pop", 30.0),
    (5, 30, "test", "Pop", 35.0),
    (6, 40, "training", "Rock", 90.0),
    (7, 40, "training", "Pop", 0.5),
    (8, 50, "validation", "Pop", 180.0),
]


def _inputs(tracks: list[tuple[int, int, str, str, float]], sets: dict[str, np.ndarray] | None = None) -> Inputs:
    ids = np.asarray([t[0] for t in tracks], dtype=np.int64)
    frame = pd.DataFrame(
        {
            "artist_id": [t[1] for t in tracks],
            "split": [t[2] for t in tracks],
            "genre_top": [t[3] for t in tracks],
            "audio_path": [f"/nowhere/{t[0]}.mp3" for t in tracks],
        },
        index=pd.Index(ids, name="track_id"),
    )
    catalog = Catalog(Path("/nowhere"), None, pd.DataFrame(), frame, CatalogReport(len(tracks), len(tracks)))
    tags = {int(t[0]): TrackTags(int(t[0]), "test", t[3], "acoustic", "positive", "high", "dreamy") for t in tracks}
    rad = np.deg2rad([t[4] for t in tracks])
    angles = np.stack([np.cos(rad), np.sin(rad)], axis=1)
    manifest = VectorSetManifest(encoder_id="test", config_hash="t", dim=2)
    vector_sets = [
        EvaluatedSet(name, Path(f"/nowhere/{name}"), "compare", manifest, vectors)
        for name, vectors in (sets or {"angles": angles}).items()
    ]
    return Inputs(
        sets=vector_sets,
        ids=ids,
        catalog=catalog,
        tags=tags,
        artists=np.asarray([t[1] for t in tracks], dtype=np.int64),
        genre_values=[t[3] for t in tracks],
    )


def test_the_test_split_is_the_test_artists_and_disjoint_from_the_rest() -> None:
    inputs = _inputs(TRACKS)
    mask = split_mask(inputs, "test")
    assert inputs.ids[mask].tolist() == [1, 2, 3, 4, 5]
    assert not set(inputs.artists[mask]) & set(inputs.artists[~mask])
    assert split_mask(inputs, "training").sum() == 2
    with pytest.raises(EvaluationError, match="fewer than 2"):
        split_mask(inputs, "validation")  # one track only


def test_an_artist_fma_lists_in_two_splits_stays_on_one_side() -> None:
    moved = [*TRACKS, (9, 10, "training", "Rock", 2.0), (10, 10, "training", "Rock", 3.0)]  # artist 10: 2 vs 2
    mask = split_mask(_inputs(moved), "test")
    inputs = _inputs(moved)
    assert not set(inputs.artists[mask]) & set(inputs.artists[~mask])


def test_without_fma_splits_the_artist_hash_decides_deterministically() -> None:
    rng = np.random.default_rng(0)
    tracks = [(t, 100 + t % 37, "", ("Rock", "Pop")[t % 2], float(rng.uniform(0, 360))) for t in range(1, 400)]
    first = split_mask(_inputs(tracks), "test")
    again = split_mask(_inputs(list(reversed(tracks))), "test")
    inputs = _inputs(tracks)
    assert first.any() and not first.all()
    assert not set(inputs.artists[first]) & set(inputs.artists[~first])
    # the same tracks whatever the order they are listed in
    assert sorted(inputs.ids[first].tolist()) == sorted(np.asarray([t[0] for t in reversed(tracks)])[again].tolist())


def test_knn_counts_only_other_artists_tracks_inside_the_test_split() -> None:
    inputs = _inputs(TRACKS)
    labels = truth_label_sets(inputs, Path("/nowhere"))  # no ground-truth file: genre only
    assert list(labels) == ["genre"]
    cfg = EvaluationConfig(k=1, bootstrap=200)
    results, per_query = score_split(inputs.sets, labels, inputs, split_mask(inputs), cfg)
    genre = results["angles"]["genre"]
    assert genre["tracks"] == 5  # the population is the test split: training track 7 is nobody's neighbour
    # same artist allowed: 1<->2, 3->2, 4<->5 are all right
    assert genre["knn_accuracy"]["value"] == pytest.approx(1.0)
    # other artists only: 1->3, 2->3, 3->2 right; 4 and 5 (artist 30) reach track 3 (Rock): wrong
    assert per_query[("angles", "genre")].knn_accuracy_other_artists.tolist() == [1, 1, 1, 0, 0]
    assert genre["knn_accuracy_other_artists"]["value"] == pytest.approx(0.6)


def test_paired_difference_of_a_set_with_itself_is_zero_and_a_better_set_wins() -> None:
    tracks = [*TRACKS, (11, 60, "test", "Pop", 70.0)]  # a second Pop artist in the test split
    rad = np.deg2rad([t[4] for t in tracks])
    same = np.stack([np.cos(rad), np.sin(rad)], axis=1)
    # genre-separated: Rock on one axis, Pop on the other
    better = np.asarray([[1.0, 0.01 * i] if t[3] == "Rock" else [0.01 * i, 1.0] for i, t in enumerate(tracks)])
    inputs = _inputs(tracks, {"a": same, "a-again": same.copy(), "better": better})
    labels = truth_label_sets(inputs, Path("/nowhere"))
    cfg = EvaluationConfig(k=1, bootstrap=200)
    _, per_query = score_split(inputs.sets, labels, inputs, split_mask(inputs), cfg)
    zero = paired(per_query, "a", "a-again", "genre", "knn_accuracy_other_artists", cfg)
    assert zero["diff"] == 0 and zero["ci"] == [0.0, 0.0] and not zero["excludes_zero"]
    up = paired(per_query, "a", "better", "genre", "knn_accuracy_other_artists", cfg)
    # tracks 4 and 5 reach the Rock track 3 with `a` but the other Pop artist's track 11 with `better`
    assert per_query[("a", "genre")].knn_accuracy_other_artists.tolist() == [1, 1, 1, 0, 0, 1]
    assert up["diff"] == pytest.approx(2 / 6) and up["n"] == 6


def test_serving_decision_needs_the_whole_interval_above_zero() -> None:
    assert serving_decision({"diff": 0.08, "ci": [0.02, 0.14]})[0] == "finetuned"
    assert serving_decision({"diff": 0.03, "ci": [-0.01, 0.07]}) == (
        "untuned",
        "no measurable gain from fine-tuning (the interval includes 0)",
    )
    assert serving_decision({"diff": -0.05, "ci": [-0.09, -0.01]}) == ("untuned", "fine-tuning measurably hurts")
    assert serving_decision({"diff": float("nan"), "ci": [float("nan"), float("nan")]})[0] == "untuned"


def _write_set(path: Path, ids: list[int], vectors: np.ndarray, name: str) -> Path:
    writer = VectorSetWriter(path, VectorSetManifest(encoder_id=name, config_hash=name, dim=vectors.shape[1]))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    writer.write_shard(ids, unit.astype(np.float32), [1] * len(ids), [4.0] * len(ids))
    writer.finish(tracks=len(ids), failures=0)
    return path


def test_choose_served_set_on_a_corpus_serves_the_set_that_wins_and_says_why(
    small_corpus: Path, small_vectors: Path, tmp_path: Path
) -> None:
    truth = ground_truth_tags(small_corpus / "synth_ground_truth.csv")
    tags = tmp_path / "tags.jsonl"
    write_tags(tags, list(truth.values()))
    ids = [int(t) for t in load_vector_set(small_vectors).track_ids]
    genres = sorted({truth[t].genre for t in ids if truth[t].genre})
    rng = np.random.default_rng(0)
    noise = _write_set(tmp_path / "noise", ids, rng.standard_normal((len(ids), 32)), "noise")
    onehot = np.eye(32)[[genres.index(truth[t].genre) for t in ids]]
    separated = _write_set(tmp_path / "separated", ids, onehot * 10 + 0.1 * rng.standard_normal((len(ids), 32)), "sep")
    cfg = EvaluationConfig(bootstrap=300)

    # "fine-tuned" = noise: never served; "un-tuned" = noise too: no gain, the un-tuned set is served
    same = choose_served_set(noise, noise, tags, small_corpus, cfg, split="training")
    assert same.served == "untuned" and same.path == noise and "includes 0" in same.reason
    assert same.finetuned_minus_untuned["diff"] == 0

    worse = choose_served_set(separated, noise, tags, small_corpus, cfg, split="training")
    assert worse.served == "untuned" and worse.path == separated
    assert worse.finetuned_minus_untuned["ci"][1] < 0 and "hurts" in worse.reason

    better = choose_served_set(noise, separated, tags, small_corpus, cfg, split="training")
    assert better.served == "finetuned" and better.path == separated
    assert better.finetuned["value"] > better.untuned["value"]
    assert "mood_style_truth" in better.others  # the synthetic corpus' ground-truth mood, for the record

    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# Evaluation\n")
    written = write_choice(report, better)
    assert written == report / SERVED_SET_JSON
    stored = json.loads(written.read_text())
    assert stored["served"] == "finetuned" and stored["path"] == str(separated)
    assert "## Served vector set" in (report / "report.md").read_text()
    assert "fine-tuning measurably helps" in better.summary_lines()[0]
