"""Fine-tuning on the synthetic corpus: learning, run-dir contents, resume, and export to `load_encoder`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from embedding.audio import load_segments
from embedding.encoders import MUQ_SAMPLE_RATE, load_encoder
from orchestration.cli import app
from training.config import TrainConfig, TrainError
from training.data import crop
from training.model import triplet_terms

CONFIG = Path(__file__).resolve().parents[2] / "training" / "configs" / "small_cpu.yml"
#: the identity-initialised residual head instead of the config's closed-form discriminant one
RESIDUAL = {"head": {"type": "residual", "hidden_dim": 256, "activation": "gelu", "dropout": 0.1}, "head_init": None}


def residual_config(tmp_path: Path) -> Path:
    """CONFIG with the residual head, as a file (the CLI takes a file)."""
    import yaml

    path = tmp_path / "residual.yml"
    path.write_text(yaml.safe_dump(TrainConfig.from_file(CONFIG, RESIDUAL).to_dict()))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """96 synthetic tracks x 4 s and 600 triplets built by the CLI from the ground-truth tags."""
    from synth import synthesize_corpus

    root = tmp_path_factory.mktemp("ft")
    fma = root / "fma"
    synthesize_corpus(fma, tracks=96, seconds=4.0, seed=0, workers=1)
    triplets = root / "triplets.parquet"
    tags = fma / "synth_ground_truth.csv"
    args = ["triplets", "--fma", str(fma), "--tags", str(tags), "--out", str(triplets), "--n", "600", "--seed", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return fma, triplets


def test_triplet_terms_and_semihard_mining() -> None:
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[0.8, 0.6]])  # d_ap = 0.2
    n = torch.tensor([[0.0, 1.0]])  # d_an = 1.0
    loss, d_ap, d_an = triplet_terms(a, p, n, margin=0.2)
    assert float(loss) == 0 and float(d_ap) == pytest.approx(0.2) and float(d_an) == pytest.approx(1.0)
    extra = torch.tensor([[0.6, 0.8], [1.0, 0.0]])  # d = 0.4 (semi-hard) and 0 (closer than the positive)
    loss, _, d_an = triplet_terms(a, p, n, 0.3, extra_negatives=extra, extra_mask=torch.tensor([[True, True]]))
    assert float(d_an) == pytest.approx(0.4) and float(loss) == pytest.approx(0.1)


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="unknown config keys"):
        TrainConfig.from_file(CONFIG, {"learning_rate": 1})
    with pytest.raises(TrainError, match="unfreeze"):
        TrainConfig.from_file(CONFIG, {"unfreeze": "top:0"})
    assert TrainConfig.from_file(CONFIG, {**RESIDUAL, "unfreeze": "top:2"}).unfreeze == "top:2"
    with pytest.raises(TrainError, match="discriminant"):
        TrainConfig.from_file(CONFIG, {"unfreeze": "top:2"})  # a closed-form head needs a frozen backbone
    with pytest.raises(TrainError, match="head_init"):
        TrainConfig.from_file(CONFIG, {"head_init": "lda"})


def test_training_improves_validation_and_exports_the_encoder(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    fma, triplets = corpus
    run = tmp_path / "run"
    config_file = residual_config(tmp_path)
    args = ["train", "--fma", str(fma), "--triplets", str(triplets), "--out", str(run), "--config", str(config_file)]
    first = CliRunner().invoke(app, [*args, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, [*args, "--epochs", "1"])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = CliRunner().invoke(app, [*args, "--epochs", "3", "--resume"])
    assert resumed.exit_code == 0, resumed.output

    val = pd.read_csv(run / "val_metrics.csv")
    assert list(val["epoch"]) == [0, 1, 2, 3]
    before, best = val.iloc[0], val.iloc[1:].sort_values("val/triplet_acc").iloc[-1]
    # the learning claim: lower validation loss and higher validation accuracy than the untrained model
    assert best["val/triplet_loss"] < before["val/triplet_loss"]
    assert best["val/triplet_acc"] > before["val/triplet_acc"] + 0.1
    assert best["val/triplet_acc"] > before["val_backbone/triplet_acc"]
    # the identity-initialised residual head: epoch 0 scores exactly as the backbone's own vectors
    assert before["val/triplet_acc"] == pytest.approx(before["val_backbone/triplet_acc"])
    steps = pd.read_csv(run / "steps.csv")
    assert list(steps["step"]) == list(range(1, len(steps) + 1)) and steps["epoch"].max() == 3
    for name in ("config.yml", "config.json", "run.json", "curves.png", "summary.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["seed"] == 0
    summary = json.loads((run / "summary.json").read_text())
    config = TrainConfig.from_file(config_file)
    # `best` (and the export) is the epoch with the highest select metric, epoch 0 included
    chosen = val.iloc[int(val[config.select_metric].to_numpy().argmax())]
    assert summary["best_epoch"] == chosen["epoch"] and summary["select_metric"] == config.select_metric
    assert summary["after"]["val/triplet_acc"] == pytest.approx(chosen["val/triplet_acc"])

    # the exported encoder reproduces the trained model's validation vectors through the embedding path
    encoder = load_encoder(str(run / "encoder"))
    # the checkpoint names the encoder training started from (the config's), not the headed copy
    started_from = load_encoder(TrainConfig.from_file(CONFIG).encoder)
    assert encoder.kind == "museed-ckpt" and encoder.dim == started_from.dim and encoder.head is not None
    assert encoder.provenance["base"]["encoder_id"] == started_from.encoder_id
    rows = pd.read_parquet(triplets).query("split == 'validation'")
    catalog_paths = {int(p.stem): p for p in (fma / "fma_full").rglob("*.mp3")}
    ids = sorted(set(rows[["anchor", "positive", "negative"]].to_numpy().ravel().tolist()))
    samples = int(config.crop_seconds * MUQ_SAMPLE_RATE)
    clips = [
        crop(load_segments(catalog_paths[t], MUQ_SAMPLE_RATE, config.cache_seconds, 1).segments[0], samples, None)
        for t in ids
    ]
    vectors = encoder.embed_tracks([c[None, :] for c in clips])
    where = {t: i for i, t in enumerate(ids)}
    a, p, n = (vectors[[where[int(t)] for t in rows[c]]] for c in ("anchor", "positive", "negative"))
    acc = float(np.mean((1 - (a * p).sum(1)) < (1 - (a * n).sum(1))))
    assert acc == pytest.approx(chosen["val/triplet_acc"], abs=1e-9)


def test_audio_decoded_on_the_fly_matches_the_cache(corpus: tuple[Path, Path]) -> None:
    from museed.catalog import load_catalog
    from training.data import load_triplet_data

    fma, triplets = corpus
    paths = load_catalog(fma, scan_unlisted=False).audio_paths()
    first_anchor = int(pd.read_parquet(triplets).query("split == 'training'")["anchor"].iloc[0])
    paths[first_anchor] = None  # a track without audio: its triplets are dropped and counted
    config = TrainConfig.from_file(CONFIG, {"max_train_triplets": 40, "max_val_triplets": 10})
    cached = load_triplet_data(triplets, paths, config)
    lazy = load_triplet_data(triplets, paths, TrainConfig.from_file(CONFIG, config.to_dict() | {"cache_audio": False}))
    assert lazy.audio == {} and lazy.track_ids == cached.track_ids
    assert lazy.dropped == cached.dropped and cached.dropped["training"] >= 1
    assert len(lazy.train) == len(cached.train) == 40 - cached.dropped["training"]
    track = cached.track_ids[0]
    assert np.array_equal(lazy.clip(track), cached.clip(track))


@pytest.mark.slow
def test_fine_tuning_the_backbone_top_layer_learns(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    """Unfrozen top conformer layer + final norm; audio decoded per batch (no audio or feature cache); ~3 min."""
    from orchestration.stages import run_train

    fma, triplets = corpus
    overrides = {
        **RESIDUAL,
        "unfreeze": "top:1",
        "epochs": 2,
        "max_train_triplets": 96,
        "batch_size": 8,
        "cache_audio": False,
    }
    report = run_train(fma, triplets, tmp_path / "run", CONFIG, overrides=overrides)
    assert report.after["val/triplet_loss"] < report.before["val/triplet_loss"]
    assert report.after["val/triplet_acc"] > report.before["val/triplet_acc"]
    assert load_encoder(str(report.encoder_dir)).head is not None


# ------------------------------------------------------------------------------------------------ model selection


def test_a_residual_head_is_the_identity_until_trained() -> None:
    from embedding.checkpoint import build_projection_head
    from embedding.encoders import EncoderError

    head = build_projection_head({"type": "residual", "in_dim": 8, "out_dim": 8, "hidden_dim": 4, "dropout": 0.2})
    x = torch.randn(5, 8)
    head.train()  # dropout on: still the identity, the zero-initialised up-projection sees to that
    assert torch.equal(head(x), x)
    with pytest.raises(EncoderError, match="keeps the width"):
        build_projection_head({"type": "residual", "in_dim": 8, "out_dim": 4, "hidden_dim": 4})
    with pytest.raises(EncoderError, match="dropout"):
        build_projection_head({"type": "residual", "in_dim": 8, "out_dim": 8, "hidden_dim": 4, "dropout": 1.0})


def test_selection_config_errors() -> None:
    with pytest.raises(TrainError, match="level_margins"):
        TrainConfig.from_file(CONFIG, {"level_margins": [1.0, 1.0]})
    with pytest.raises(TrainError, match="select_metric"):
        TrainConfig.from_file(CONFIG, {"select_metric": "test/knn"})
    with pytest.raises(TrainError, match="patience"):
        TrainConfig.from_file(CONFIG, {"patience": 0})
    residual = TrainConfig.from_file(CONFIG, {"head": {"type": "residual", "hidden_dim": 16}, "head_init": None})
    assert "out_dim" not in residual.head  # the backbone's width, filled in when the encoder is built


def test_level_margins_scale_each_triplets_margin() -> None:
    from training.model import triplet_margins

    plain = TrainConfig.from_file(CONFIG, {"margin": 0.2, "level_margins": None})
    assert triplet_margins(plain, np.array([0, 4])) == 0.2
    scaled = TrainConfig.from_file(CONFIG, {"margin": 0.2, "level_margins": [0.25, 0.25, 0.5, 0.5, 1.0]})
    margins = triplet_margins(scaled, np.array([0, 2, 4, 4]))
    assert isinstance(margins, torch.Tensor)
    assert margins.tolist() == pytest.approx([0.05, 0.1, 0.2, 0.2])
    a = torch.tensor([[1.0, 0.0]] * 4)
    loss, _, _ = triplet_terms(a, a, a, margins)  # d_ap = d_an = 0: the loss is each triplet's own margin
    assert loss.tolist() == pytest.approx([0.05, 0.1, 0.2, 0.2])


def test_validation_knn_among_other_artists_matches_the_evaluation_vote() -> None:
    from evaluation.metrics import knn_correct, top_k_neighbours
    from training.loop import knn_accuracy_other_artists

    rng = np.random.default_rng(4)
    x = rng.standard_normal((60, 6))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(0, 3, 60)
    artists = rng.integers(0, 12, 60)
    _, other = top_k_neighbours(x, 5, exclude_groups=artists)
    assert other is not None
    expected = knn_correct(other.index[:, :5], labels, 3).mean()
    assert knn_accuracy_other_artists(x, labels, artists, 5) == pytest.approx(expected)
    # hand case: the query's own artist never votes
    hand = np.array([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]])
    assert knn_accuracy_other_artists(hand, np.array(["a", "a", "b"]), np.array([1, 1, 2]), 1) == 0.0
    assert knn_accuracy_other_artists(hand, np.array(["a", "a", "a"]), np.array([1, 2, 3]), 1) == 1.0


def test_a_run_that_never_beats_its_start_exports_the_start(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    """lr 0: no epoch beats epoch 0 on validation, so early stopping ends the run and the exported encoder
    gives exactly the un-tuned vectors (the identity-initialised residual head)."""
    from orchestration.stages import run_train

    fma, triplets = corpus
    overrides = {
        "head": {"type": "residual", "hidden_dim": 32, "dropout": 0.1},
        "head_init": None,
        "lr": 0.0,
        "epochs": 4,
        "patience": 1,
        "select_metric": "val/knn_genre_other_artists",
        "max_train_triplets": 64,
    }
    report = run_train(fma, triplets, tmp_path / "run", CONFIG, overrides=overrides)
    assert report.best_epoch == 0 and report.stopped_early and report.epochs == 1
    val = pd.read_csv(tmp_path / "run" / "val_metrics.csv")
    assert list(val["epoch"]) == [0, 1] and val["val/knn_genre_other_artists"].notna().all()
    # the head is the identity at epoch 0: the headed and the backbone's own vectors score the same
    assert val["val/triplet_acc"].iloc[0] == pytest.approx(val["val_backbone/triplet_acc"].iloc[0])
    tuned, base = load_encoder(str(report.encoder_dir)), load_encoder("small:0")
    assert tuned.dim == base.dim and tuned.head is not None
    clips = [np.random.default_rng(i).standard_normal((2, MUQ_SAMPLE_RATE)).astype(np.float32) for i in range(3)]
    np.testing.assert_allclose(tuned.embed_tracks(clips), base.embed_tracks(clips), atol=1e-6)


# ------------------------------------------------------------------------------------------------ discriminant head


def test_the_discriminant_head_finds_the_quiet_directions_that_carry_the_labels() -> None:
    """Genre and mood live in low-variance directions under a loud nuisance one: cosine k-NN on the raw features
    misses them, the closed-form head's output finds them; its blocks and centring are as documented."""
    from training.model import discriminant_head

    rng = np.random.default_rng(0)
    n, d = 600, 12
    genres, moods = rng.integers(0, 4, n), rng.integers(0, 3, n)
    x = rng.standard_normal((n, d)) * 0.05
    x[:, :4] += rng.standard_normal((n, 4)) * 5.0  # loud and meaningless
    x[:, 4] += genres * 0.2
    x[:, 5] += moods * 0.2
    x += 3.0  # all features positive, as ReLU outputs are
    head, spec = discriminant_head(x, genres, moods, weight=0.5, ridge=0.01)
    assert spec == {"type": "linear", "in_dim": d, "out_dim": d + 3 + 2}
    with torch.no_grad():
        out = head(torch.from_numpy(x).float()).numpy()
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)  # centred on the training rows

    def knn_accuracy(v: np.ndarray, labels: np.ndarray) -> float:
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        sims = v @ v.T
        np.fill_diagonal(sims, -np.inf)
        nearest = np.argsort(-sims, axis=1)[:, :10]
        votes = [np.bincount(labels[row], minlength=labels.max() + 1).argmax() for row in nearest]
        return float(np.mean(np.asarray(votes) == labels))

    for labels in (genres, moods):  # chance: 0.25 and 0.33
        raw, headed = knn_accuracy(x, labels), knn_accuracy(out, labels)
        assert raw < 0.35 and headed > 0.55 and headed > raw + 0.3


def test_a_run_with_the_discriminant_head_starts_from_it_and_exports_it(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    """The default config: the linear head is computed from the cached features before epoch 0, so epoch 0
    already differs from the backbone; the export carries it (width 128 + genres - 1 + moods - 1). (Whether it
    helps is a benchmark's question: `benchmarks/finetune.py` on 2,000 tracks, docs/EMBEDDING.md.)"""
    from orchestration.stages import run_train

    fma, triplets = corpus
    report = run_train(fma, triplets, tmp_path / "run", CONFIG, overrides={"epochs": 1, "max_train_triplets": 200})
    frame = pd.read_parquet(triplets)
    used = frame[frame["split"] == "training"].iloc[:200]
    ids = set(used[["anchor", "positive", "negative"]].to_numpy().ravel().tolist())
    moods = {m for col in ("anchor", "positive", "negative") for m in used[f"{col}_mood_style"]}
    genre_of = pd.read_csv(fma / "synth_ground_truth.csv").set_index("track_id")["genre_top"]
    n_genres = len({genre_of[t] for t in ids})
    tuned = load_encoder(str(report.encoder_dir))
    assert tuned.head_spec is not None and tuned.head_spec["init"] == "discriminant"
    assert tuned.dim == 128 + (n_genres - 1) + (len(moods) - 1)
    val = pd.read_csv(tmp_path / "run" / "val_metrics.csv")
    assert val["val/triplet_acc"].iloc[0] != pytest.approx(val["val_backbone/triplet_acc"].iloc[0])
