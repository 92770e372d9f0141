"""Triplets of a run and the audio they use: decoded once per track (or on the fly), cropped per step.

Each track is decoded once (`cache_seconds` from its middle, 24 kHz mono) and kept in memory (`cache_audio:
false` decodes each batch's tracks on the fly instead, for corpora that do not fit); every training step takes a
random `crop_seconds` crop with a random gain of +-`gain_db`; validation uses the centre crop without gain.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from embedding.audio import AudioError, load_segments
from embedding.encoders import MUQ_SAMPLE_RATE, encoder_sample_rate
from training.config import RUN_LOGGER, TrainConfig, TrainError

log = logging.getLogger(RUN_LOGGER)


@dataclass
class TripletData:
    """Triplets of one run and the decoded audio (or cached backbone features) of every track they use."""

    train: pd.DataFrame
    val: pd.DataFrame
    audio: dict[int, np.ndarray]  # track_id -> float32 (samples,) at `sample_rate` (empty without `cache_audio`)
    genre: dict[int, str]  # track_id -> catalog genre (every track with one; else anchors, positives, hard negatives)
    dropped: dict[str, int]  # why triplets were left out
    paths: dict[int, str] = field(default_factory=dict)  # every usable track's audio file
    cache_seconds: float = 10.0
    sample_rate: int = MUQ_SAMPLE_RATE  # the encoder's (16 kHz for MusiCNN)
    features: dict[int, torch.Tensor] | None = None  # head-only: track_id -> (cache_crops + 1, D); last = centre
    artists: dict[int, int] = field(default_factory=dict)  # track_id -> artist_id (validation k-NN among others)
    mood: dict[int, str] = field(default_factory=dict)  # track_id -> mood_style tag (triplets that carry it)

    @property
    def track_ids(self) -> list[int]:
        """Every track the triplets use."""
        return sorted(self.paths)

    def clip(self, track_id: int) -> np.ndarray:
        """The track's decoded middle `cache_seconds` (from memory, or decoded now without `cache_audio`)."""
        if track_id in self.audio:
            return self.audio[track_id]
        try:
            decoded = load_segments(self.paths[track_id], self.sample_rate, self.cache_seconds, n_segments=1)
            segment: np.ndarray = decoded.segments[0]
            return segment
        except AudioError as error:
            raise TrainError(f"track {track_id} no longer decodes ({error.reason}): {error}") from None

    def epoch_rows(self, epoch: int) -> pd.DataFrame:
        """Training triplets of `epoch`: a curriculum file (several `epoch` values) cycles through them."""
        epochs = sorted(self.train["epoch"].unique()) if "epoch" in self.train else [0]
        if len(epochs) <= 1:
            return self.train
        return self.train[self.train["epoch"] == epochs[epoch % len(epochs)]]


def load_triplet_data(
    triplets_path: Path,
    audio_paths: Mapping[int, str | None],
    config: TrainConfig,
    *,
    shard: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    artists: Mapping[int, int] | None = None,
    genres: Mapping[int, str | None] | None = None,
) -> TripletData:
    """Read the triplets Parquet and decode the audio of every track it uses (training and validation).

    `shard=(rank, world)` keeps every world-th training triplet from `rank` on (data-parallel workers);
    `artists` (track_id -> artist_id, e.g. the catalog's) enables the validation k-NN among other artists;
    `genres` (the catalog's genre_top) gives every track its genre, negatives of other genres included (without
    it: anchors, positives and same-genre negatives, from the triplets' `anchor_genre`).
    """
    path = Path(triplets_path)
    if not path.is_file():
        raise TrainError(f"no triplets file at {path} (run `museed triplets` first)")
    frame = pd.read_parquet(path)
    missing_cols = {"anchor", "positive", "negative", "level", "split", "anchor_genre"} - set(frame.columns)
    if missing_cols:
        raise TrainError(f"{path} lacks columns {sorted(missing_cols)}: not a `museed triplets` file")
    train = frame[frame["split"] == "training"]
    val = frame[frame["split"] == "validation"]
    if config.max_train_triplets:
        train = train.iloc[: config.max_train_triplets]
    if config.max_val_triplets:
        val = val.iloc[: config.max_val_triplets]
    if shard is not None:
        train = train.iloc[shard[0] :: shard[1]]
    if train.empty or val.empty:
        raise TrainError(f"{path} needs training and validation triplets (has {len(train)} / {len(val)})")
    sample_rate = encoder_sample_rate(config.encoder)
    ids = sorted(set(pd.concat([train, val])[["anchor", "positive", "negative"]].to_numpy().ravel().tolist()))
    audio: dict[int, np.ndarray] = {}
    paths: dict[int, str] = {}
    failed: dict[int, str] = {}
    for done, track_id in enumerate(ids, start=1):
        source = audio_paths.get(int(track_id))
        if source is None:
            failed[int(track_id)] = "missing"
        elif not config.cache_audio:  # large corpora: decode on the fly, one batch at a time
            paths[int(track_id)] = source
        else:
            try:
                seg = load_segments(source, sample_rate, config.cache_seconds, n_segments=1)
                audio[int(track_id)] = seg.segments[0]
                paths[int(track_id)] = source
            except AudioError as error:
                failed[int(track_id)] = error.reason
        if progress:
            progress(done, len(ids))
    dropped = {}
    if failed:
        log.warning("%d tracks could not be decoded; their triplets are left out: %s", len(failed), failed)

    def usable(df: pd.DataFrame, name: str) -> pd.DataFrame:
        ok = df[["anchor", "positive", "negative"]].isin(list(paths)).all(axis=1)
        dropped[name] = int((~ok).sum())
        return df[ok].reset_index(drop=True)

    train, val = usable(train, "training"), usable(val, "validation")
    genre: dict[int, str] = {}
    for df in (train, val):
        for col in ("anchor", "positive"):
            genre.update(zip(df[col].astype(int), df["anchor_genre"].astype(str), strict=True))
        same = df[df["level"] < 4]  # levels 0-3 share the anchor's genre
        genre.update(zip(same["negative"].astype(int), same["anchor_genre"].astype(str), strict=True))
    if genres is not None:
        genre.update({int(t): str(genres[t]) for t in paths if isinstance(genres.get(t), str) and genres[t]})
    mood: dict[int, str] = {}
    for df in (train, val):
        for col in ("anchor", "positive", "negative"):
            if f"{col}_mood_style" in df:
                mood.update(zip(df[col].astype(int), df[f"{col}_mood_style"].astype(str), strict=True))
    return TripletData(
        train=train,
        val=val,
        audio=audio,
        genre=genre,
        dropped=dropped,
        paths=paths,
        cache_seconds=config.cache_seconds,
        sample_rate=sample_rate,
        artists={int(t): int(artists[t]) for t in paths if artists is not None and t in artists},
        mood=mood,
    )


def crop(clip: np.ndarray, samples: int, rng: np.random.Generator | None, gain_db: float = 0.0) -> np.ndarray:
    """A `samples`-long crop (random with `rng`, else the centre) with a random gain of +-gain_db."""
    if len(clip) < samples:  # loop short clips rather than pad with silence
        clip = np.tile(clip, math.ceil(samples / len(clip)))
    start = int(rng.integers(0, len(clip) - samples + 1)) if rng is not None else (len(clip) - samples) // 2
    out = clip[start : start + samples]
    if rng is not None and gain_db > 0:
        out = out * np.float32(10 ** (rng.uniform(-gain_db, gain_db) / 20))
    return out.astype(np.float32, copy=False)
