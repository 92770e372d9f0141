"""The synthetic FMA corpus: real FMA layout and formats, determinism, audible labels, FMA-like imbalance."""

from __future__ import annotations

import ast
import itertools
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy import signal

from museed.vocab import ENERGY, MOOD_STYLES, SOURCE, VALENCE
from synth import (
    GENRE_STYLES,
    TRACKS_COLUMNS,
    SynthReport,
    plan_corpus,
    planned_genre_counts,
    render_track,
    synthesize_corpus,
)

TRACKS, SECONDS, SEED = 40, 3.0, 11

# the 16 FMA top-level genres with their real ids (written out here, not imported, so drift is caught)
FMA_TOP_LEVEL = {
    2: "International",
    3: "Blues",
    4: "Jazz",
    5: "Classical",
    8: "Old-Time / Historic",
    9: "Country",
    10: "Pop",
    12: "Rock",
    13: "Easy Listening",
    14: "Soul-RnB",
    15: "Electronic",
    17: "Folk",
    20: "Spoken",
    21: "Hip-Hop",
    38: "Experimental",
    1235: "Instrumental",
}


def _mp3(root: Path, track_id: int) -> Path:
    tid = f"{track_id:06d}"
    return root / "fma_full" / tid[:3] / f"{tid}.mp3"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthReport, list[tuple[int, int]]]:
    """40 tracks x 3 s rendered in-process (workers=1), with the progress calls it made."""
    root = tmp_path_factory.mktemp("synth-w1")
    calls: list[tuple[int, int]] = []
    report = synthesize_corpus(
        root,
        tracks=TRACKS,
        seconds=SECONDS,
        seed=SEED,
        workers=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    return root, report, calls


@pytest.fixture(scope="module")
def corpus_two_workers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same corpus rendered by a pool of two worker processes."""
    root = tmp_path_factory.mktemp("synth-w2")
    synthesize_corpus(root, tracks=TRACKS, seconds=SECONDS, seed=SEED, workers=2)
    return root


@pytest.fixture(scope="module")
def truth(corpus: tuple[Path, SynthReport, list[tuple[int, int]]]) -> pd.DataFrame:
    return pd.read_csv(corpus[0] / "synth_ground_truth.csv", index_col="track_id")


@pytest.fixture(scope="module")
def decoded(corpus: tuple[Path, SynthReport, list[tuple[int, int]]], truth: pd.DataFrame) -> dict[int, np.ndarray]:
    out = {}
    for tid in truth.index:
        audio, sr = sf.read(_mp3(corpus[0], int(tid)), dtype="float32")
        assert sr == 44_100
        out[int(tid)] = audio
    return out


def test_files_are_in_the_fma_layout(corpus: tuple[Path, SynthReport, list[tuple[int, int]]]) -> None:
    root, report, _ = corpus
    plans = plan_corpus(TRACKS, SEED)
    assert plans[0].track_id == 2 and _mp3(root, 2).is_file()  # fma_full/000/000002.mp3, as in FMA
    assert all(_mp3(root, p.track_id).is_file() for p in plans)
    assert not list(root.rglob("*.part"))
    assert sorted(p.name for p in (root / "fma_metadata").iterdir()) == ["genres.csv", "tracks.csv"]
    # the labels sit beside the metadata, never inside it, so taggers cannot read them
    assert (root / "synth_ground_truth.csv").is_file()
    saved = pd.read_json(root / "synth_report.json", typ="series")
    assert saved["tracks"] == report.tracks == TRACKS
    assert saved["seed"] == SEED and saved["seconds"] == SECONDS
    assert saved["artists"] == report.artists == len({p.artist_id for p in plans})
    assert saved["tracks_per_second"] == pytest.approx(report.tracks_per_second)
    assert sum(report.genre_counts.values()) == TRACKS


def test_tracks_csv_reads_like_fma(
    corpus: tuple[Path, SynthReport, list[tuple[int, int]]], truth: pd.DataFrame
) -> None:
    root = corpus[0]
    path = root / "fma_metadata" / "tracks.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith(",album,album,") and lines[1].startswith(",comments,date_created,")
    assert lines[2] == "track_id" + "," * 52

    tracks = pd.read_csv(path, index_col=0, header=[0, 1])
    assert tracks.shape == (TRACKS, 52)
    assert list(tracks.columns) == list(TRACKS_COLUMNS)
    assert tracks.index.name == "track_id"
    gaps = np.diff(tracks.index.to_numpy())
    assert tracks.index[0] == 2 and gaps.min() >= 1 and gaps.max() <= 5

    plans = {p.track_id: p for p in plan_corpus(TRACKS, SEED)}
    # titles and artist names round-trip, commas, quotes and non-ASCII included
    assert [plans[t].title for t in tracks.index] == tracks[("track", "title")].tolist()
    assert [plans[t].artist_name for t in tracks.index] == tracks[("artist", "name")].tolist()
    texts = tracks[("track", "title")].tolist() + tracks[("artist", "name")].tolist()
    assert any("," in t for t in texts) and any(not t.isascii() for t in texts)

    assert set(tracks[("track", "duration")]) == {3}
    assert set(tracks[("track", "bit_rate")]) == {320000}
    assert tracks[("track", "license")].notna().all()
    assert set(tracks[("set", "subset")]) <= {"small", "medium", "large"}
    assert set(tracks[("set", "split")]) == {"training", "validation", "test"}
    split_of_artist = pd.DataFrame({"artist": tracks[("artist", "id")], "split": tracks[("set", "split")]})
    assert (split_of_artist.groupby("artist")["split"].nunique() == 1).all()  # artist-disjoint

    # genres and genres_all are Python lists leading to one root: the true genre, listed or not
    for tid, row in tracks.iterrows():
        genres_all = ast.literal_eval(row[("track", "genres_all")])
        genres = ast.literal_eval(row[("track", "genres")])
        assert set(genres) <= set(genres_all)
        roots = [g for g in genres_all if g in FMA_TOP_LEVEL]
        assert [FMA_TOP_LEVEL[g] for g in roots] == [truth.at[tid, "genre_top"]]
        listed = row[("track", "genre_top")]
        assert pd.isna(listed) or listed == truth.at[tid, "genre_top"]


def test_some_genre_top_is_empty_like_real_fma() -> None:
    plans = plan_corpus(300, SEED)
    empty = sum(not p.genre_top_listed for p in plans) / len(plans)
    assert 0.05 <= empty <= 0.16


def test_genres_csv_has_the_real_fma_ids(corpus: tuple[Path, SynthReport, list[tuple[int, int]]]) -> None:
    root = corpus[0]
    assert (root / "fma_metadata" / "genres.csv").read_text().splitlines()[
        0
    ] == "genre_id,#tracks,parent,title,top_level"
    genres = pd.read_csv(root / "fma_metadata" / "genres.csv", index_col="genre_id")
    roots = genres[genres["parent"] == 0]
    assert roots["title"].to_dict() == FMA_TOP_LEVEL
    assert (roots["top_level"] == roots.index).all()
    for gid, row in genres.iterrows():  # top_level is where the parent chain ends
        node = gid
        while genres.at[node, "parent"]:
            node = genres.at[node, "parent"]
        assert row["top_level"] == node
    # a few real FMA sub-genres with their real ids and parents
    assert genres.loc[[25, 26, 66, 181, 811], ["parent", "title"]].values.tolist() == [
        [12, "Punk"],
        [12, "Post-Rock"],
        [12, "Indie-Rock"],
        [15, "Techno"],
        [21, "Hip-Hop Beats"],
    ]
    tracks = pd.read_csv(root / "fma_metadata" / "tracks.csv", index_col=0, header=[0, 1])
    counts = Counter(g for cell in tracks[("track", "genres_all")] for g in ast.literal_eval(cell))
    assert {gid: counts.get(gid, 0) for gid in genres.index} == genres["#tracks"].to_dict()


def test_same_seed_same_corpus_whatever_the_workers(
    corpus: tuple[Path, SynthReport, list[tuple[int, int]]], corpus_two_workers: Path
) -> None:
    one, two = corpus[0], corpus_two_workers
    for name in ("fma_metadata/tracks.csv", "fma_metadata/genres.csv", "synth_ground_truth.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    for plan in plan_corpus(TRACKS, SEED):
        a = sf.read(_mp3(one, plan.track_id), dtype="float32")[0]
        b = sf.read(_mp3(two, plan.track_id), dtype="float32")[0]
        assert np.array_equal(a, b), plan.track_id


def test_another_seed_gives_another_corpus(
    corpus: tuple[Path, SynthReport, list[tuple[int, int]]], tmp_path: Path
) -> None:
    synthesize_corpus(tmp_path, tracks=TRACKS, seconds=SECONDS, seed=SEED + 1, workers=1)
    root = corpus[0]
    assert (tmp_path / "fma_metadata/tracks.csv").read_bytes() != (root / "fma_metadata/tracks.csv").read_bytes()
    assert (tmp_path / "synth_ground_truth.csv").read_bytes() != (root / "synth_ground_truth.csv").read_bytes()
    a = sf.read(_mp3(root, 2), dtype="float32")[0]
    b = sf.read(_mp3(tmp_path, 2), dtype="float32")[0]
    assert a.shape != b.shape or not np.allclose(a, b)


def test_a_corpus_written_over_another_replaces_its_audio(tmp_path: Path) -> None:
    mixed, fresh = tmp_path / "mixed", tmp_path / "fresh"
    synthesize_corpus(mixed, tracks=6, seconds=1.0, seed=1, workers=1)
    synthesize_corpus(mixed, tracks=6, seconds=1.0, seed=2, workers=1)
    synthesize_corpus(fresh, tracks=6, seconds=1.0, seed=2, workers=1)
    for plan in plan_corpus(6, 2):
        a = sf.read(_mp3(mixed, plan.track_id), dtype="float32")[0]
        assert np.array_equal(a, sf.read(_mp3(fresh, plan.track_id), dtype="float32")[0])


def test_audio_decodes_at_44k1_with_the_requested_length(decoded: dict[int, np.ndarray]) -> None:
    for tid, audio in decoded.items():
        assert audio.ndim == 1
        assert abs(audio.size - SECONDS * 44_100) <= 0.05 * 44_100, tid
        assert np.isfinite(audio).all()
        rms = float(np.sqrt(np.mean(audio**2)))
        assert rms > 1e-3, f"track {tid} is silent"
        assert np.abs(audio).max() <= 1.0


def test_energy_is_audible_as_loudness(decoded: dict[int, np.ndarray], truth: pd.DataFrame) -> None:
    rms = pd.Series({tid: float(np.sqrt(np.mean(a**2))) for tid, a in decoded.items()})
    by_energy = rms.groupby(truth.loc[rms.index, "energy"]).mean()
    assert by_energy["high"] > 1.8 * by_energy["medium"]
    assert by_energy["medium"] > 1.8 * by_energy["low"]


def _high_band_flatness(audio: np.ndarray) -> float:
    """Median spectral flatness of 4-15 kHz over the loud frames: noise (acoustic) vs oscillator partials."""
    freqs, _, stft = signal.stft(audio, fs=44_100, nperseg=2048, noverlap=1024)
    power = np.abs(stft) ** 2 + 1e-10
    loud = power.sum(axis=0) > 0.05 * power.sum(axis=0).max()
    band = power[(freqs >= 4000) & (freqs < 15_000)][:, loud]
    return float(np.median(np.exp(np.mean(np.log(band), axis=0)) / np.mean(band, axis=0)))


def test_source_is_audible_in_the_spectrum(decoded: dict[int, np.ndarray], truth: pd.DataFrame) -> None:
    flat = pd.Series({tid: _high_band_flatness(a) for tid, a in decoded.items()})
    by_source = flat.groupby(truth.loc[flat.index, "source"]).mean()
    assert by_source["acoustic"] > 1.3 * by_source["electronic"]


def test_source_flip_changes_the_same_track() -> None:
    """One plan rendered acoustic and electronic: the acoustic take's highs are noisier most of the time."""
    plans = [p for p in plan_corpus(120, 3) if p.genre_top != "Spoken"][::6]
    wins = [
        _high_band_flatness(render_track(replace(p, source="acoustic"), 2.0))
        > _high_band_flatness(render_track(replace(p, source="electronic"), 2.0))
        for p in plans
    ]
    assert sum(wins) >= 0.75 * len(wins)


def test_every_genre_source_and_mood_renders() -> None:
    base = plan_corpus(20, 0)[0]
    for i, (genre, source, mood) in enumerate(itertools.product(GENRE_STYLES, SOURCE, MOOD_STYLES)):
        valence = VALENCE[i % 2]
        style = GENRE_STYLES[genre]
        plan = replace(
            base,
            genre_top=genre,
            source=source,
            mood_style=mood,
            energy=ENERGY[i % 3],
            valence=valence,
            mode=style.scales[0 if valence == "positive" else 1],
            signature=replace(base.signature, variant=i % 7),
        )
        audio = render_track(plan, 1.0)
        assert audio.dtype == np.float32 and audio.size == 44_100
        assert np.isfinite(audio).all()
        assert 0.05 < np.abs(audio).max() <= 0.9 * 0.75 + 1e-6, (genre, source, mood)


def test_genre_counts_follow_the_fma_imbalance() -> None:
    counts = planned_genre_counts(300)
    assert sum(counts.values()) == 300 and len(counts) == 16 and min(counts.values()) >= 2
    fma_order = [
        "Rock",
        "Experimental",
        "Electronic",
        "Hip-Hop",
        "Folk",
        "Pop",
        "Instrumental",
        "International",
        "Classical",
        "Jazz",
        "Old-Time / Historic",
        "Spoken",
        "Country",
        "Soul-RnB",
        "Blues",
        "Easy Listening",
    ]
    ordered = [counts[g] for g in fma_order]
    assert ordered == sorted(ordered, reverse=True)
    assert counts["Rock"] > 5 * counts["Jazz"] and counts["Rock"] > 10 * counts["Easy Listening"]
    assert Counter(p.genre_top for p in plan_corpus(300, SEED)) == Counter(counts)
    assert len(planned_genre_counts(64)) == 16 and min(planned_genre_counts(64).values()) >= 2
    assert sum(planned_genre_counts(10).values()) == 10 and len(planned_genre_counts(10)) == 10


def test_plan_artists_splits_and_ids() -> None:
    plans = plan_corpus(300, SEED)
    ids = [p.track_id for p in plans]
    assert ids[0] == 2 and all(1 <= b - a <= 5 for a, b in itertools.pairwise(ids))
    by_artist: dict[int, list] = {}
    for p in plans:
        by_artist.setdefault(p.artist_id, []).append(p)
    for tracks in by_artist.values():
        assert len({t.genre_top for t in tracks}) == 1 and len({t.split for t in tracks}) == 1
        assert len({t.signature for t in tracks}) == 1 and len(tracks) <= 8
    assert np.mean([len(t) for t in by_artist.values()]) >= 3
    split = Counter(p.split for p in plans)
    assert 0.7 <= split["training"] / 300 <= 0.9 and split["validation"] >= 15 and split["test"] >= 15
    assert len({p.relative_path[:3] for p in plan_corpus(1000, SEED)}) >= 2  # ids span several AAA/ folders

    # triplet mining needs same-genre pairs that differ in exactly one axis, for every axis
    axes = ("energy", "valence", "source", "mood_style")
    for axis in axes:
        others = [a for a in axes if a != axis]
        assert any(
            a.genre_top == b.genre_top
            and getattr(a, axis) != getattr(b, axis)
            and all(getattr(a, o) == getattr(b, o) for o in others)
            for a, b in itertools.combinations(plans, 2)
        ), axis
    rock = [p for p in plans if p.genre_top == "Rock"]
    assert {p.energy for p in rock} == set(ENERGY) and {p.mood_style for p in rock} == set(MOOD_STYLES)
    assert {p.source for p in rock} == set(SOURCE) and {p.valence for p in rock} == set(VALENCE)


def test_progress_and_resume(corpus: tuple[Path, SynthReport, list[tuple[int, int]]]) -> None:
    root, _, calls = corpus
    assert calls[0] == (0, TRACKS) and calls[-1] == (TRACKS, TRACKS)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    before = {p: p.stat().st_mtime_ns for p in (root / "fma_full").rglob("*.mp3")}
    again: list[tuple[int, int]] = []
    synthesize_corpus(
        root,
        tracks=TRACKS,
        seconds=SECONDS,
        seed=SEED,
        workers=1,
        progress=lambda done, total: again.append((done, total)),
    )
    assert again == [(TRACKS, TRACKS)]  # everything was already there
    assert {p: p.stat().st_mtime_ns for p in (root / "fma_full").rglob("*.mp3")} == before


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        synthesize_corpus(tmp_path, tracks=0)
    with pytest.raises(ValueError):
        synthesize_corpus(tmp_path, tracks=5, seconds=0.1)
