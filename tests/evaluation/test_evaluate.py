"""The evaluation metrics on hand-made cases with known answers, and `museed evaluate` end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evaluation.metrics import (
    Silhouette,
    average_precision,
    bootstrap_ci,
    encode_labels,
    hubness,
    k_occurrence,
    knn_correct,
    knn_predict,
    macro_mean,
    per_class_table,
    precision_at_k,
    silhouette,
    top_k_neighbours,
)
from museed.tags import ground_truth_tags, write_tags
from museed.vectorset import VectorSetManifest, VectorSetWriter, load_vector_set
from orchestration.cli import app


def _angles(degrees: list[float]) -> np.ndarray:
    rad = np.deg2rad(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1)


def _clusters(n_per: int, n_classes: int, dim: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per)
    centres = np.eye(dim)[:n_classes] * 10.0
    return centres[labels] + noise * rng.standard_normal((len(labels), dim)), labels


# ------------------------------------------------------------------------------------------------ metrics


def test_separated_clusters_score_perfectly() -> None:
    x, labels = _clusters(n_per=20, n_classes=3, dim=8, noise=0.5)
    plain, _ = top_k_neighbours(x, 10)
    assert (knn_correct(plain.index, labels, 3) == 1).all()
    assert (precision_at_k(plain.index, labels) == 1).all()
    assert np.allclose(average_precision(x, labels), 1.0)
    assert silhouette(x, labels, sample_size=60).value > 0.9


def test_shuffled_labels_score_at_chance() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 16))
    labels = rng.integers(0, 4, 2000)
    plain, _ = top_k_neighbours(x, 10)
    assert knn_correct(plain.index, labels, 4).mean() == pytest.approx(0.25, abs=0.04)
    assert precision_at_k(plain.index, labels).mean() == pytest.approx(0.25, abs=0.03)
    assert np.nanmean(average_precision(x, labels, queries=np.arange(300))) == pytest.approx(0.25, abs=0.03)
    assert abs(silhouette(x, labels, sample_size=1000).value) < 0.05


def test_neighbours_are_sorted_and_exclude_self() -> None:
    x = _angles([0, 10, 25, 60, 100])
    plain, _ = top_k_neighbours(x, 2)
    assert plain.index.tolist() == [[1, 2], [0, 2], [1, 0], [2, 4], [3, 2]]
    assert np.all(np.diff(plain.similarity, axis=1) <= 0)
    dup = np.vstack([x, x[:1], x[:1]])  # exact duplicates: self may be crowded out of the candidates
    plain, _ = top_k_neighbours(dup, 2)
    assert all(row not in plain.index[row] for row in range(len(dup)))


def test_artist_filtered_lists_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 8))
    artists = rng.integers(0, 12, 300)  # ~25 tracks per artist: more than `extra` candidates of one artist
    _, fast = top_k_neighbours(x, 5, exclude_groups=artists, extra=4)
    import evaluation.metrics as metrics

    monkeypatch.setattr(metrics, "BLOCK_ELEMENTS", 300 * 7)  # brute force in blocks of 7 rows
    exact_index, _ = metrics._exact_rows(metrics.l2_normalise(x), np.arange(300), 5, artists)
    assert fast is not None and fast.index.tolist() == exact_index.tolist()


def test_artist_filter_excludes_same_artist_and_changes_the_answer() -> None:
    # track 0's nearest track is by its own artist (same genre); the nearest other-artist track is another genre
    x = _angles([0, 1, 5, 40])
    labels = np.array([0, 0, 1, 0])
    artists = np.array([7, 7, 8, 9])
    plain, other = top_k_neighbours(x, 1, exclude_groups=artists)
    assert other is not None
    assert plain.index[0, 0] == 1 and other.index[0, 0] == 2
    assert knn_correct(plain.index, labels, 2)[0] == 1.0
    assert knn_correct(other.index, labels, 2)[0] == 0.0
    _, other3 = top_k_neighbours(x, 3, exclude_groups=artists)
    assert other3 is not None
    for row in range(4):
        kept = other3.index[row][other3.index[row] >= 0]
        assert not (artists[kept] == artists[row]).any()
    assert other3.index[0].tolist() == [2, 3, -1]  # only two tracks by other artists exist


def test_knn_vote_tie_break_and_macro() -> None:
    labels = np.array([0, 1, 1, 0, 2, 2])
    # row 0: labels of neighbours 1, 2, 3, 4 = [1, 1, 0, 2]: class 1 wins 2 votes
    # row 1: neighbours 3, 4, 5, 0 = [0, 2, 2, 0]: 2 - 2 tie; class 0 ranks first -> 0
    neighbours = np.array([[1, 2, 3, 4], [3, 4, 5, 0]])
    assert knn_predict(neighbours, labels, 3).tolist() == [1, 0]
    assert knn_predict(np.array([[-1, -1]]), labels, 3).tolist() == [-1]
    assert macro_mean(np.array([1.0, 1.0, 0.0, 1.0]), np.array([0, 0, 0, 1])) == pytest.approx((2 / 3 + 1) / 2)


def test_average_precision_hand_case() -> None:
    # from track 0: ranks 1 (same), 2 (other), 3 (same) -> AP = (1/1 + 2/3) / 2
    x = _angles([0, 10, 20, 30])
    labels = np.array([0, 0, 1, 0])
    ap = average_precision(x, labels)
    assert ap[0] == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(ap[2])  # no other track of class 1
    assert average_precision(x, labels, queries=np.array([0]))[0] == pytest.approx(ap[0])


def test_per_class_table_hand_case() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    correct = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    p_at_k = np.array([0.2, 0.1, 0.0, 0.1, 0.1])
    sil = Silhouette(value=0.2, samples=np.array([0.5, 0.3, -0.2]), rows=np.array([0, 1, 3]), sample_size=3)
    rows = per_class_table(labels, ["Rock", "Spoken"], correct, p_at_k, k=10, sil=sil, minority_share=0.5)
    rock, spoken = rows
    assert (rock.name, rock.support, rock.share) == ("Rock", 3, pytest.approx(0.6))
    assert rock.knn_accuracy == pytest.approx(2 / 3) and rock.precision_at_k == pytest.approx(0.1)
    assert rock.precision_ceiling == pytest.approx(0.2) and not rock.minority
    assert rock.silhouette == pytest.approx(0.4) and rock.silhouette_n == 2
    assert (spoken.support, spoken.knn_accuracy, spoken.precision_ceiling) == (2, 0.5, pytest.approx(0.1))
    assert spoken.minority and spoken.silhouette == pytest.approx(-0.2) and spoken.silhouette_n == 1


def test_bootstrap_ci_contains_estimate_and_shrinks() -> None:
    rng = np.random.default_rng(2)
    small = (rng.random(100) < 0.6).astype(float)
    large = (rng.random(10_000) < 0.6).astype(float)
    lo_s, hi_s = bootstrap_ci(small, 1000, seed=0)
    lo_l, hi_l = bootstrap_ci(large, 1000, seed=0)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5
    assert bootstrap_ci(small, 200, seed=3) == bootstrap_ci(small, 200, seed=3)  # seeded
    assert np.isnan(bootstrap_ci(np.array([np.nan]))[0])


def test_hubness_uniform_and_one_hub() -> None:
    ring = _angles(list(np.arange(0, 360, 30)))  # 12 points: each one's 2 neighbours are its two adjacent ones
    plain, _ = top_k_neighbours(ring, 2)
    h = hubness(plain.index, 12)
    assert h.skewness == 0.0 and h.coverage == 1.0 and h.max_occurrence == 2

    m = 20
    star = np.vstack([np.eye(m), np.ones((1, m))])  # the last vector is every other's nearest neighbour
    plain, _ = top_k_neighbours(star, 1)
    h = hubness(plain.index, m + 1)
    assert h.hubs[0] == (m, m) and h.max_occurrence == m
    assert h.coverage == pytest.approx(2 / (m + 1))  # the hub plus the hub's own nearest neighbour
    assert h.skewness > 3


def test_k_occurrence_hand_case() -> None:
    neighbours = np.array([[1, 2], [0, 2], [0, 1], [0, -1]])
    assert k_occurrence(neighbours, 4).tolist() == [3, 2, 2, 0]


def test_encode_labels() -> None:
    codes, names = encode_labels(["Rock", None, "Pop", "Rock", ""])
    assert names == ["Pop", "Rock"] and codes.tolist() == [1, -1, 0, 1, -1]


def test_mfcc_baseline_reuses_resumes_and_notices_new_audio(small_corpus: Path, tmp_path: Path) -> None:
    import os

    from embedding.job import TrackAudio
    from evaluation.baseline import BaselineError, MfccConfig, build_mfcc_baseline, standardise
    from museed.catalog import load_catalog

    paths = load_catalog(small_corpus, scan_unlisted=False).tracks["audio_path"].head(6)
    tracks = [TrackAudio(int(t), str(p)) for t, p in paths.items()]
    config = MfccConfig(segment_seconds=2.0, n_segments=2)
    out = tmp_path / "baseline"

    def interrupt_after_4(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_mfcc_baseline(tracks, out, config, workers=1, progress=interrupt_after_4)
    second = build_mfcc_baseline(tracks, out, config, workers=1)
    assert second.computed == 2 and not second.reused  # the raw statistics of the first 4 were kept
    vs = load_vector_set(out)
    assert vs.vectors.shape == (6, config.dim) and np.allclose(np.linalg.norm(vs.vectors, axis=1), 1, atol=1e-5)
    assert build_mfcc_baseline(tracks, out, config, workers=1).reused
    os.utime(tracks[0].path, ns=(1, 1))  # "new audio" under an old track id
    again = build_mfcc_baseline(tracks, out, config, workers=1)
    assert not again.reused and again.computed == 6
    with pytest.raises(BaselineError, match="could not cover 1 of 7"):
        build_mfcc_baseline([*tracks, TrackAudio(999_999, None)], tmp_path / "b2", config, workers=1)
    z = standardise(np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 2.5], [2.0, 5.0, 0.0]]))
    assert np.allclose(z[:, 1], 0) and np.allclose(np.linalg.norm(z, axis=1), 1)


# ------------------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def evaluation_inputs(small_corpus: Path, small_vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Ground-truth tags, a second vector set (genre-separated: a stand-in for a fine-tuned encoder), a run dir."""
    root = tmp_path_factory.mktemp("evaluate")
    truth = ground_truth_tags(small_corpus / "synth_ground_truth.csv")
    tags = root / "tags.jsonl"
    # a tagger that gets every 4th mood wrong, so the report scores tags and ground truth apart
    moods = ("dreamy", "driving", "playful", "somber")
    write_tags(
        tags,
        [
            replace(t, tagger="test", mood_style=moods[(moods.index(t.mood_style) + 1) % 4]) if i % 4 == 0 else t
            for i, t in enumerate(truth.values())
        ],
    )
    partial = root / "partial.jsonl"
    write_tags(partial, list(truth.values())[:10])

    vs = load_vector_set(small_vectors)
    codes, _ = encode_labels([truth[int(t)].genre for t in vs.track_ids])
    rng = np.random.default_rng(0)
    tuned = np.eye(32)[codes] * 10 + 0.3 * rng.standard_normal((len(codes), 32))
    tuned_dir = root / "vectors-finetuned"
    writer = VectorSetWriter(tuned_dir, VectorSetManifest(encoder_id="test-genre-separated", config_hash="t", dim=32))
    writer.write_shard(
        [int(t) for t in vs.track_ids],
        tuned / np.linalg.norm(tuned, axis=1, keepdims=True),
        [1] * len(codes),
        [4.0] * len(codes),
    )
    writer.finish(tracks=len(codes), failures=0)
    subset_dir = root / "subset"
    writer = VectorSetWriter(subset_dir, VectorSetManifest(encoder_id="test-subset", config_hash="s", dim=32))
    writer.write_shard([int(t) for t in vs.track_ids[:20]], tuned[:20], [1] * 20, [4.0] * 20)

    run = root / "train"
    run.mkdir()
    pd.DataFrame(
        {"step": [1, 2, 3, 4], "epoch": [1, 1, 2, 2], "triplet/loss": [0.2, 0.18, 0.15, 0.1], "lr": [1e-3] * 4}
    ).to_csv(run / "steps.csv", index=False)
    pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "step": [0, 2, 4],
            "triplet/loss": [None, 0.19, 0.12],
            "val/triplet_loss": [0.2, 0.17, 0.14],
            "val/triplet_acc": [0.5, 0.6, 0.7],
            "val/triplet_acc/level4": [0.6, 0.7, 0.8],
        }
    ).to_csv(run / "val_metrics.csv", index=False)
    return {
        "fma": small_corpus,
        "vectors": small_vectors,
        "tuned": tuned_dir,
        "tags": tags,
        "partial": partial,
        "run": run,
        "root": root,
        "subset": subset_dir,
    }


def test_evaluate_cli_writes_the_report(evaluation_inputs: dict) -> None:
    d = evaluation_inputs
    out = d["root"] / "report"
    args = [
        "evaluate",
        "--fma",
        str(d["fma"]),
        "--embeddings",
        str(d["vectors"]),
        "--compare",
        str(d["tuned"]),
        "--tags",
        str(d["tags"]),
        "--out",
        str(out),
        "--train-run",
        str(d["run"]),
        "--baseline",
        "mfcc",
        "--bootstrap",
        "200",
        "--workers",
        "1",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "k-NN" in result.output

    for name in (
        "report.md",
        "metrics.json",
        "tsne_genre.png",
        "per_genre_knn.png",
        "k_occurrence.png",
        "training_curves.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    m = json.loads((out / "metrics.json").read_text())
    assert {
        "config",
        "vector_sets",
        "label_sets",
        "results",
        "comparisons",
        "case_studies",
        "training",
        "figures",
        "caveats",
    } <= set(m)
    names = [vs["name"] for vs in m["vector_sets"]]
    assert names == [d["vectors"].name, "vectors-finetuned", "baseline-mfcc"]
    assert m["vector_sets"][0]["random_init"] and "RANDOMLY INITIALISED" in m["vector_sets"][0]["note"]
    assert set(m["label_sets"]) == {"genre", "mood_style", "mood_style_truth"}  # genre_top = true genre here
    assert any("agrees with the ground truth on 75.0 %" in note for note in m["ground_truth_notes"])
    assert len(m["label_sets"]["genre"]["classes"]) == 16
    for name in names:
        r = m["results"][name]
        for key in ("genre", "mood_style"):
            for metric in ("knn_accuracy", "knn_accuracy_other_artists", "precision_at_10", "map"):
                value, (lo, hi) = r[key][metric]["value"], r[key][metric]["ci"]
                assert 0 <= lo <= value <= hi <= 1, (name, key, metric)
            assert -1 <= r[key]["silhouette"]["value"] <= 1
        assert len(r["per_genre"]) == 16 and sum(row["support"] for row in r["per_genre"]) == 64
        assert {"skewness", "coverage", "hubs"} <= set(r["hubness"])
    tuned = m["results"]["vectors-finetuned"]["genre"]
    assert tuned["map"]["value"] > 0.95  # genre-separated by construction
    # ... so P@10 reaches each genre's ceiling (most genres here have 2-4 tracks)
    ceiling = np.mean(
        [
            min(1, (r["support"] - 1) / 10)
            for r in m["results"]["vectors-finetuned"]["per_genre"]
            for _ in range(r["support"])
        ]
    )
    assert tuned["precision_at_10"]["value"] == pytest.approx(ceiling, abs=0.02)
    comp = next(c for c in m["comparisons"] if c["other"] == "vectors-finetuned" and c["label_set"] == "genre")
    assert comp["map"]["excludes_zero"] and comp["map"]["diff"] > 0
    genres = {s["genre"] for s in m["case_studies"]["seeds"]}
    assert {"Rock", "Pop", "Easy Listening", "Spoken"} == genres
    assert all(len(s["playlists"][n]["tracks"]) == 10 for s in m["case_studies"]["seeds"] for n in names)
    assert [e["epoch"] for e in m["training"]["epochs"]] == [0, 1, 2]
    report = (out / "report.md").read_text()
    for heading in (
        "## Headline figures",
        "## Differences",
        "## Per genre",
        "## Retrieval",
        "## Hubness",
        "## Training run",
        "## t-SNE maps",
        "## Case studies",
        "## Caveats",
    ):
        assert heading in report
    assert "partly circular" in report and "SMALL RANDOMLY INITIALISED" in report
    assert (out / "baseline-mfcc" / "vector_set.json").is_file()

    again = CliRunner().invoke(app, [*args[:-4], "--bootstrap", "50", "--workers", "1"])  # baseline reused
    assert again.exit_code == 0 and "reused" in again.output, again.output


def test_evaluate_cli_errors(evaluation_inputs: dict) -> None:
    d = evaluation_inputs
    base = ["evaluate", "--fma", str(d["fma"]), "--embeddings", str(d["vectors"]), "--out", str(d["root"] / "bad")]

    def fails(*extra: str) -> str:
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        return " ".join(result.output.split())  # rich wraps long lines

    assert "covers 10 of the 64 evaluated tracks" in fails("--tags", str(d["partial"]))
    assert "tags file not found" in fails("--tags", str(d["root"] / "nope.jsonl"))
    assert "vector set not found" in fails("--tags", str(d["tags"]), "--compare", str(d["root"] / "missing"))
    message = fails("--tags", str(d["tags"]), "--compare", str(d["subset"]))
    assert "does not hold the same tracks" in message and "44 missing" in message
    assert "not a training run directory" in fails("--tags", str(d["tags"]), "--train-run", str(d["root"]))
    assert "--baseline must be" in fails("--tags", str(d["tags"]), "--baseline", "chroma")
