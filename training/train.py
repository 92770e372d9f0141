"""Triplet-loss fine-tuning of MuQ with a projection head (descript-audio-codec's train.py pattern).

One typed `State` holds the network, optimiser, scheduler and data; `train_loop` and `val_loop` are plain
functions returning namespaced metrics ("triplet/loss", "val/triplet_loss", "val/triplet_acc"); `fit` runs the
epochs, writes checkpoints `latest` and `best` (best by validation triplet accuracy) and the run's logs; the
same `fit` runs in one process (`train_run`) and in every Ray Train worker (`training.distributed`).

Model: MuQ backbone -> mean over time of hidden layer `layer` -> projection head -> L2 normalisation. Loss:
triplet margin loss on cosine distance d = 1 - cos, max(0, d(a, p) - d(a, n) + margin); with
`mining: semihard` the negative distance of each anchor is the smallest of its own negative's and those of the
batch's other anchors/positives of a different genre (certain negatives) that are still farther than the
positive (FaceNet's semi-hard rule). Mining is off by default: on the small CPU model with 8-16 triplets per
batch both the hardest and the semi-hard variant collapsed every embedding to one point within ~10 steps (all
distances ~0, loss stuck at the margin, every triplet active) in trial runs, while plain triplets learned.
Try it only with large batches (FaceNet used thousands of exemplars per batch).

Unfreeze policy (`unfreeze`): `head` (backbone frozen; with `feature_cache` its pooled features are computed
once for `cache_crops` random crops per track and reused), `top:K` (the K conformer layers below the pooled
layer, plus the final layer norm when the last layer is pooled), `all` (conv front end and conformer).
BatchNorm layers always stay in eval mode: small triplet batches would corrupt their running statistics.

Audio: each track is decoded once (`cache_seconds` from its middle, 24 kHz mono) and kept in memory
(`cache_audio: false` decodes each batch's tracks on the fly instead, for corpora that do not fit); every
training step takes a random `crop_seconds` crop with a random gain of +-`gain_db`; validation uses the
centre crop without gain, so validation metrics are deterministic.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from embedding.audio import AudioError, load_segments
from embedding.encoders import (
    MUQ_SAMPLE_RATE,
    MuQEncoder,
    build_projection_head,
    load_encoder,
    save_encoder_checkpoint,
)

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "small_cpu.yml"
CHECKPOINTS_DIR = "checkpoints"
EXPORT_DIR = "encoder"
TRAINER_STATE_FILE = "trainer.pt"
STEPS_CSV = "steps.csv"
VAL_CSV = "val_metrics.csv"
CURVES_PNG = "curves.png"
SUMMARY_JSON = "summary.json"


class TrainError(ValueError):
    """A training config, triplets file or run directory that cannot be used."""


# ------------------------------------------------------------------------------------------------ config


@dataclass
class TrainConfig:
    """One experiment (a YAML file in training/configs/)."""

    seed: int = 0
    encoder: str = "small:0"  # any `load_encoder` spec
    layer: int | None = None  # pooled hidden state (None: the encoder's default)
    head: dict[str, Any] = field(
        default_factory=lambda: {"type": "mlp", "hidden_dim": 256, "out_dim": 128, "activation": "gelu"}
    )
    unfreeze: str = "head"  # head | top:K | all
    feature_cache: bool = True  # head-only: reuse backbone features of precomputed crops
    cache_crops: int = 4
    margin: float = 0.2
    mining: str = "none"  # none | semihard
    epochs: int = 3
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 1e-3  # head
    backbone_lr: float = 1e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 0
    crop_seconds: float = 3.0
    cache_seconds: float = 10.0
    cache_audio: bool = True  # keep decoded clips in memory (small corpora); False: decode each batch
    gain_db: float = 3.0
    mixed_precision: bool = True  # used on CUDA only
    device: str | None = None
    max_train_triplets: int | None = None
    max_val_triplets: int | None = None
    torch_threads: int | None = None

    def validate(self) -> TrainConfig:
        """Raise TrainError on an inconsistent config."""
        if self.unfreeze not in ("head", "all") and not (
            self.unfreeze.startswith("top:") and self.unfreeze[4:].isdigit() and int(self.unfreeze[4:]) >= 1
        ):
            raise TrainError(f"unfreeze must be 'head', 'top:K' (K >= 1) or 'all', not {self.unfreeze!r}")
        if self.mining not in ("none", "semihard"):
            raise TrainError(f"mining must be 'none' or 'semihard', not {self.mining!r}")
        if self.epochs < 1 or self.batch_size < 2 or self.grad_accum < 1 or self.cache_crops < 1:
            raise TrainError("epochs, grad_accum and cache_crops must be >= 1 and batch_size >= 2")
        if not 0.1 <= self.crop_seconds <= self.cache_seconds:
            raise TrainError("crop_seconds must be between 0.1 and cache_seconds")
        if "out_dim" not in self.head or "type" not in self.head:
            raise TrainError("head needs at least 'type' and 'out_dim'")
        return self

    @classmethod
    def from_file(cls, path: Path | None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
        """Read a YAML (or JSON) config; unknown keys are an error; `overrides` win."""
        data: dict[str, Any] = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise TrainError(f"no config file at {path}")
            import yaml

            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as error:
                raise TrainError(f"{path} is not valid YAML: {error}") from None
            if not isinstance(loaded, dict):
                raise TrainError(f"{path} does not hold a mapping")
            data.update(loaded)
        data.update(overrides or {})
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(data) - known):
            raise TrainError(f"unknown config keys {unknown}; known: {sorted(known)}")
        try:
            return cls(**data).validate()
        except TypeError as error:  # a value of the wrong type, e.g. epochs: "three"
            raise TrainError(f"bad config value: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for config.yml/json)."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------------ data


@dataclass
class TripletData:
    """Triplets of one run and the decoded audio (or cached backbone features) of every track they use."""

    train: pd.DataFrame
    val: pd.DataFrame
    audio: dict[int, np.ndarray]  # track_id -> float32 (samples,) at 24 kHz (empty without `cache_audio`)
    genre: dict[int, str]  # track_id -> genre (anchors and positives)
    dropped: dict[str, int]  # why triplets were left out
    paths: dict[int, str] = field(default_factory=dict)  # every usable track's audio file
    cache_seconds: float = 10.0
    features: dict[int, torch.Tensor] | None = None  # head-only: track_id -> (cache_crops + 1, D); last = centre

    @property
    def track_ids(self) -> list[int]:
        """Every track the triplets use."""
        return sorted(self.paths)

    def clip(self, track_id: int) -> np.ndarray:
        """The track's decoded middle `cache_seconds` (from memory, or decoded now without `cache_audio`)."""
        if track_id in self.audio:
            return self.audio[track_id]
        try:
            return load_segments(self.paths[track_id], MUQ_SAMPLE_RATE, self.cache_seconds, n_segments=1).segments[0]
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
) -> TripletData:
    """Read the triplets Parquet and decode the audio of every track it uses (training and validation).

    `shard=(rank, world)` keeps every world-th training triplet from `rank` on (data-parallel workers).
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
                seg = load_segments(source, MUQ_SAMPLE_RATE, config.cache_seconds, n_segments=1)
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
    return TripletData(
        train=train,
        val=val,
        audio=audio,
        genre=genre,
        dropped=dropped,
        paths=paths,
        cache_seconds=config.cache_seconds,
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


# ------------------------------------------------------------------------------------------------ model


class EmbeddingNet(nn.Module):
    """MuQ backbone + projection head -> L2-normalised vectors; the module DDP wraps."""

    def __init__(self, encoder: MuQEncoder, *, backbone_trainable: bool) -> None:
        super().__init__()
        if encoder.head is None:
            raise TrainError("the encoder needs a projection head")
        self.encoder = encoder
        self.backbone = encoder.model
        self.head = encoder.head
        self.backbone_trainable = backbone_trainable

    def backbone_features(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, D) pooled hidden layer, before the head."""
        if self.backbone_trainable:
            out = self.backbone(waves, output_hidden_states=True)
        else:
            with torch.no_grad():
                out = self.backbone(waves, output_hidden_states=True)
        return out.hidden_states[self.encoder.layer].mean(dim=1)

    def forward(
        self, waves: torch.Tensor | None = None, features: torch.Tensor | None = None, use_head: bool = True
    ) -> torch.Tensor:
        """Waveforms (or precomputed backbone features) -> L2-normalised embeddings (`use_head=False`: no head)."""
        if features is None:
            if waves is None:
                raise TrainError("EmbeddingNet needs waves or features")
            features = self.backbone_features(waves)
        return F.normalize(self.head(features.float()) if use_head else features.float(), dim=-1)


def build_encoder(config: TrainConfig, device: str | None = None) -> MuQEncoder:
    """The starting encoder with a fresh projection head (or the checkpoint's own head when it has one)."""
    base = load_encoder(config.encoder, device=device or config.device, layer=config.layer)
    if base.head is not None:
        return base  # continuing from a fine-tuned checkpoint: keep its head
    spec = {"in_dim": int(base.muq_config["encoder_dim"]), **config.head}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        head = build_projection_head(spec)
    return MuQEncoder(
        base.model,
        source=base.source,
        layer=base.layer,
        device=str(base.device),
        batch_size=base.batch_size,
        kind=base.kind,
        weights_fingerprint=base.weights_fingerprint,  # the checkpoint's `base` records where training started
        head=head,
        head_spec=spec,
        label=base.encoder_id.removeprefix(f"{base.kind}:"),  # the kind prefixes the new id once
        # the checkpoint records the encoder training started from, not this headed copy of it
        provenance={
            **base.provenance,
            "base": {
                "encoder_id": base.encoder_id,
                "kind": base.kind,
                "source": base.source,
                "config_hash": base.config_hash,
            },
        },
    )


def set_trainable(encoder: MuQEncoder, unfreeze: str) -> list[nn.Parameter]:
    """Apply the unfreeze policy; returns the backbone parameters that train (the head always trains)."""
    for p in encoder.model.parameters():
        p.requires_grad_(False)
    assert encoder.head is not None
    for p in encoder.head.parameters():
        p.requires_grad_(True)
    inner = encoder.model.model
    modules: list[nn.Module] = []
    if unfreeze == "all":
        modules = [inner.conv, inner.conformer]
    elif unfreeze.startswith("top:"):
        k = int(unfreeze[4:])
        layers = inner.conformer.layers[max(0, encoder.layer - k) : encoder.layer]
        modules = list(layers)
        if encoder.layer == len(inner.conformer.layers):  # the last hidden state includes the final norm
            modules.append(inner.conformer.layer_norm)
    params: list[nn.Parameter] = []
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(True)
            params.append(p)
    return params


def keep_batchnorm_eval(module: nn.Module) -> None:
    """Put every BatchNorm back in eval mode (after `module.train()`)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


# ------------------------------------------------------------------------------------------------ state


@dataclass
class State:
    """Everything a training run owns (descript-audio-codec's `State`)."""

    config: TrainConfig
    encoder: MuQEncoder
    net: nn.Module  # EmbeddingNet, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    data: TripletData
    device: torch.device
    rng: np.random.Generator
    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    best_acc: float = -1.0
    step_log: list[dict[str, float]] = field(default_factory=list)
    scaler: Any = None

    @property
    def module(self) -> EmbeddingNet:
        """The unwrapped EmbeddingNet."""
        net = self.net.module if hasattr(self.net, "module") else self.net
        assert isinstance(net, EmbeddingNet)
        return net


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch before anything random happens."""
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_state(
    config: TrainConfig,
    data: TripletData,
    *,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    device: str | None = None,
) -> State:
    """Encoder + head, trainable parameters, optimiser, cosine schedule with warm-up, feature cache."""
    encoder = build_encoder(config, device=device)
    backbone_params = set_trainable(encoder, config.unfreeze)
    net: nn.Module = EmbeddingNet(encoder, backbone_trainable=bool(backbone_params)).to(encoder.device)
    assert encoder.head is not None
    groups: list[dict[str, Any]] = [{"params": list(encoder.head.parameters()), "lr": config.lr}]
    if backbone_params:
        groups.append({"params": backbone_params, "lr": config.backbone_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(data.epoch_rows(0)) / (config.batch_size * config.grad_accum)))
    total = steps_per_epoch * config.epochs

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = np.random.default_rng(config.seed)
    state = State(config, encoder, net, optimizer, scheduler, data, encoder.device, rng)
    if config.mixed_precision and state.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        state.scaler = torch.amp.GradScaler("cuda")
    if not backbone_params and config.feature_cache:
        data.features = _cache_features(state)
    if wrap is not None:
        state.net = wrap(net)
    return state


def _autocast(state: State) -> Any:
    if state.config.mixed_precision and state.device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def _cache_features(state: State) -> dict[int, torch.Tensor]:
    """Backbone features of `cache_crops` random crops (training tracks) and the centre crop of every track."""
    cfg, net = state.config, state.module
    samples = int(cfg.crop_seconds * MUQ_SAMPLE_RATE)
    train_ids = set(state.data.train[["anchor", "positive", "negative"]].to_numpy().ravel().tolist())
    feats: dict[int, torch.Tensor] = {}
    net.eval()
    ids = state.data.track_ids
    with torch.inference_mode(), _autocast(state):
        for start in range(0, len(ids), 16):
            chunk = ids[start : start + 16]
            waves, counts = [], []
            for tid in chunk:
                clip = state.data.clip(tid)
                # validation-only tracks need only their centre crop
                n_random = cfg.cache_crops if tid in train_ids else 0
                waves.extend([crop(clip, samples, state.rng, cfg.gain_db) for _ in range(n_random)])
                waves.append(crop(clip, samples, None))
                counts.append(n_random + 1)
            out = net.backbone_features(torch.from_numpy(np.stack(waves)).to(state.device)).float().cpu()
            offset = 0
            for tid, count in zip(chunk, counts, strict=True):
                rows = out[offset : offset + count]
                offset += count
                if count == 1:  # keep one shape: the centre crop stands in for the random ones
                    rows = rows.repeat(cfg.cache_crops + 1, 1)
                feats[tid] = rows.clone()
    return feats


def _embed(state: State, track_ids: Sequence[int], *, train: bool, use_head: bool = True) -> torch.Tensor:
    """Embeddings of `track_ids` (a random crop and gain when training, the centre crop otherwise)."""
    cfg = state.config
    if state.data.features is not None:
        crops = cfg.cache_crops
        pick = state.rng.integers(0, crops, len(track_ids)) if train else np.full(len(track_ids), crops)
        feats = torch.stack([state.data.features[int(t)][int(i)] for t, i in zip(track_ids, pick, strict=True)])
        return state.net(features=feats.to(state.device), use_head=use_head)
    samples = int(cfg.crop_seconds * MUQ_SAMPLE_RATE)
    rng = state.rng if train else None
    waves = np.stack([crop(state.data.clip(int(t)), samples, rng, cfg.gain_db) for t in track_ids])
    return state.net(waves=torch.from_numpy(waves).to(state.device), use_head=use_head)


def triplet_terms(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float,
    *,
    extra_negatives: torch.Tensor | None = None,
    extra_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-triplet (loss, d_ap, d_an) on cosine distance of L2-normalised vectors.

    With `extra_negatives` (M, E) and `extra_mask` (B, M) (True = a certain negative of anchor b), d_an is the
    smallest of the own negative's distance and the masked extra distances larger than d_ap (semi-hard mining).
    """
    d_ap = 1 - (anchor * positive).sum(-1)
    d_an = 1 - (anchor * negative).sum(-1)
    if extra_negatives is not None and extra_mask is not None:
        d_extra = 1 - anchor @ extra_negatives.T
        d_extra = d_extra.masked_fill(~extra_mask | (d_extra <= d_ap[:, None].detach()), float("inf"))
        d_an = torch.minimum(d_an, d_extra.min(dim=1).values)
    return F.relu(d_ap - d_an + margin), d_ap, d_an


def _batch_loss(state: State, rows: pd.DataFrame, *, train: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embed each distinct track of the batch once, then the per-triplet terms."""
    ids = pd.unique(rows[["anchor", "positive", "negative"]].to_numpy().ravel())
    where = {int(t): i for i, t in enumerate(ids)}
    with _autocast(state):
        emb = _embed(state, [int(t) for t in ids], train=train).float()
    a = emb[[where[int(t)] for t in rows["anchor"]]]
    p = emb[[where[int(t)] for t in rows["positive"]]]
    n = emb[[where[int(t)] for t in rows["negative"]]]
    extra = mask = None
    if train and state.config.mining == "semihard":
        # anchors and positives of other genres are certain negatives; tags of same-genre ones are unknown here
        others = [int(t) for t in pd.unique(rows[["anchor", "positive"]].to_numpy().ravel())]
        extra = emb[[where[t] for t in others]]
        other_genre = np.array([state.data.genre[t] for t in others])
        mask = torch.from_numpy(rows["anchor_genre"].to_numpy()[:, None] != other_genre[None, :]).to(emb.device)
    return triplet_terms(a, p, n, state.config.margin, extra_negatives=extra, extra_mask=mask)


def train_loop(state: State) -> dict[str, float]:
    """One epoch over the training triplets; returns {"triplet/loss", "triplet/active", "triplet/lr"}."""
    cfg = state.config
    rows = state.data.epoch_rows(state.epoch)
    rows = rows.iloc[state.rng.permutation(len(rows))]
    state.net.train()
    keep_batchnorm_eval(state.net)
    losses, actives = [], []
    micro = [rows.iloc[i : i + cfg.batch_size] for i in range(0, len(rows), cfg.batch_size)]
    micro = [b for b in micro if len(b) >= 2]
    state.optimizer.zero_grad(set_to_none=True)
    for i, batch in enumerate(micro, start=1):
        loss_terms, _, _ = _batch_loss(state, batch, train=True)
        loss = loss_terms.mean()
        scaled = loss / cfg.grad_accum
        if state.scaler is not None:
            state.scaler.scale(scaled).backward()
        else:
            scaled.backward()
        losses.append(float(loss.detach()))
        actives.append(float((loss_terms > 0).float().mean()))
        if i % cfg.grad_accum == 0 or i == len(micro):
            if state.scaler is not None:
                state.scaler.step(state.optimizer)
                state.scaler.update()
            else:
                state.optimizer.step()
            state.optimizer.zero_grad(set_to_none=True)
            state.scheduler.step()
            state.step += 1
            state.step_log.append(
                {
                    "step": state.step,
                    "epoch": state.epoch + 1,
                    "triplet/loss": float(np.mean(losses[-cfg.grad_accum :])),
                    "triplet/active": float(np.mean(actives[-cfg.grad_accum :])),
                    "lr": float(state.scheduler.get_last_lr()[0]),
                }
            )
    return {
        "triplet/loss": float(np.mean(losses)) if losses else float("nan"),
        "triplet/active": float(np.mean(actives)) if actives else float("nan"),
        "triplet/lr": float(state.scheduler.get_last_lr()[0]),
    }


@torch.no_grad()
def val_loop(state: State, *, use_head: bool = True) -> dict[str, float]:
    """Loss and accuracy (d(a,p) < d(a,n)) over the validation triplets, overall and per negative level.

    `use_head=False` scores the backbone's own pooled vectors (what `museed embed` stores without fine-tuning).
    """
    state.net.eval()
    rows = state.data.val
    ids = [int(t) for t in pd.unique(rows[["anchor", "positive", "negative"]].to_numpy().ravel())]
    where = {t: i for i, t in enumerate(ids)}
    parts = []
    for start in range(0, len(ids), 32):
        with _autocast(state):
            parts.append(_embed(state, ids[start : start + 32], train=False, use_head=use_head).float())
    emb = torch.cat(parts)
    a, p, n = (emb[[where[int(t)] for t in rows[c]]] for c in ("anchor", "positive", "negative"))
    loss, d_ap, d_an = triplet_terms(a, p, n, state.config.margin)
    correct = (d_ap < d_an).cpu().numpy()
    out = {"val/triplet_loss": float(loss.mean()), "val/triplet_acc": float(correct.mean())}
    levels = rows["level"].to_numpy()
    for k in sorted(set(levels.tolist())):
        out[f"val/triplet_acc/level{k}"] = float(correct[levels == k].mean())
    return out


# ------------------------------------------------------------------------------------------------ run dir


def git_revision() -> str | None:
    """`git rev-parse HEAD` of the code (None outside a git checkout), plus '-dirty' when files changed."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def plot_curves(run_dir: Path) -> Path:
    """Loss per step and validation metrics per epoch as one PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = pd.read_csv(run_dir / STEPS_CSV) if (run_dir / STEPS_CSV).exists() else pd.DataFrame()
    val = pd.read_csv(run_dir / VAL_CSV) if (run_dir / VAL_CSV).exists() else pd.DataFrame()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if not steps.empty:
        ax1.plot(steps["step"], steps["triplet/loss"], lw=0.8, label="train triplet loss (per step)")
    if not val.empty:
        ax1.plot(val["step"], val["val/triplet_loss"], "o-", label="val triplet loss")
        ax2.plot(val["epoch"], val["val/triplet_acc"], "o-", label="val triplet acc")
    ax1.set_xlabel("optimiser step")
    ax1.legend()
    ax2.set_xlabel("epoch (0 = before training)")
    ax2.set_ylim(0, 1)
    ax2.legend()
    fig.tight_layout()
    out = run_dir / CURVES_PNG
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def save_checkpoint(state: State, path: Path, extra: Mapping[str, Any]) -> None:
    """An encoder checkpoint (loads with `load_encoder`) plus the trainer state for --resume."""
    save_encoder_checkpoint(state.encoder, path, extra=dict(extra))
    trainer = {
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "best_acc": state.best_acc,
        "rng": state.rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
    }
    tmp = path / (TRAINER_STATE_FILE + ".tmp")
    torch.save(trainer, tmp)
    os.replace(tmp, path / TRAINER_STATE_FILE)


def restore_checkpoint(state: State, path: Path) -> None:
    """Load weights and trainer state from a `latest` checkpoint into `state`."""
    from safetensors.torch import load_file

    state.encoder.model.load_state_dict(load_file(str(path / "muq.safetensors")), strict=False)
    assert state.encoder.head is not None
    state.encoder.head.load_state_dict(load_file(str(path / "head.safetensors")))
    trainer = torch.load(path / TRAINER_STATE_FILE, map_location="cpu", weights_only=False)
    state.optimizer.load_state_dict(trainer["optimizer"])
    state.scheduler.load_state_dict(trainer["scheduler"])
    state.epoch, state.step, state.best_acc = trainer["epoch"], trainer["step"], trainer["best_acc"]
    state.rng.bit_generator.state = trainer["rng"]
    torch.set_rng_state(trainer["torch_rng"])


@dataclass
class TrainReport:
    """What a run did."""

    run_dir: Path
    encoder_dir: Path
    before: dict[str, float]
    after: dict[str, float]  # metrics of the best checkpoint
    best_epoch: int
    epochs: int
    steps: int
    train_triplets: int
    val_triplets: int
    tracks: int
    dropped: dict[str, int]
    seconds: float

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the CLI."""
        return [
            f"trained {self.epochs} epochs ({self.steps} steps) on {self.train_triplets} triplets "
            f"({self.tracks} tracks) in {self.seconds:.1f} s; validation triplets: {self.val_triplets}",
            f"val triplet loss {self.before['val/triplet_loss']:.4f} -> {self.after['val/triplet_loss']:.4f}, "
            f"accuracy {self.before['val/triplet_acc']:.3f} -> {self.after['val/triplet_acc']:.3f} "
            f"(best epoch {self.best_epoch}); untrained backbone without head: loss "
            f"{self.before.get('val_backbone/triplet_loss', float('nan')):.4f}, accuracy "
            f"{self.before.get('val_backbone/triplet_acc', float('nan')):.3f}",
            f"encoder for `museed embed --encoder`: {self.encoder_dir}",
        ]


def fit(
    state: State,
    run_dir: Path,
    *,
    is_main: bool = True,
    report: Callable[[dict[str, float]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainReport:
    """Run the remaining epochs of `state`: validate before training, after every epoch, checkpoint, log."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    ckpt = run_dir / CHECKPOINTS_DIR
    val_rows: list[dict[str, Any]] = pd.read_csv(run_dir / VAL_CSV).to_dict("records") if state.epoch else []
    if state.epoch and (run_dir / STEPS_CSV).exists():
        state.step_log = pd.read_csv(run_dir / STEPS_CSV).to_dict("records")
    if state.epoch == 0:
        before = val_loop(state)
        backbone = {k.replace("val/", "val_backbone/"): v for k, v in val_loop(state, use_head=False).items()}
        before.update({k: v for k, v in backbone.items() if "/level" not in k})
        val_rows = [{"epoch": 0, "step": 0, **before}]
        if report:
            report(before)
    extra = {"config": state.config.to_dict(), "git_revision": git_revision(), "run_dir": str(run_dir)}
    while state.epoch < state.config.epochs:
        metrics = train_loop(state)
        state.epoch += 1
        val = val_loop(state)
        row = {"epoch": state.epoch, "step": state.step, **metrics, **val}
        val_rows.append(row)
        log.info("epoch %d: %s", state.epoch, {k: round(v, 4) for k, v in row.items()})
        if report:
            report(row)
        if is_main:
            improved = val["val/triplet_acc"] > state.best_acc
            if improved:
                state.best_acc = val["val/triplet_acc"]
                save_checkpoint(state, ckpt / "best", {**extra, "epoch": state.epoch, "metrics": val})
            save_checkpoint(state, ckpt / "latest", {**extra, "epoch": state.epoch, "metrics": val})
            _write_csv(run_dir / STEPS_CSV, state.step_log)
            _write_csv(run_dir / VAL_CSV, val_rows)
            plot_curves(run_dir)
        if progress:
            progress(state.epoch, state.config.epochs)
    best_row = max(val_rows[1:], key=lambda r: r["val/triplet_acc"]) if len(val_rows) > 1 else val_rows[0]
    encoder_dir = run_dir / EXPORT_DIR
    if is_main:
        _export(ckpt / "best", encoder_dir)
        _write_csv(run_dir / VAL_CSV, val_rows)
    out = TrainReport(
        run_dir=run_dir,
        encoder_dir=encoder_dir,
        before={k: float(v) for k, v in val_rows[0].items() if k.startswith(("val/", "val_backbone/"))},
        after={k: float(v) for k, v in best_row.items() if k.startswith("val/")},
        best_epoch=int(best_row["epoch"]),
        epochs=state.epoch,
        steps=state.step,
        train_triplets=len(state.data.train),
        val_triplets=len(state.data.val),
        tracks=len(state.data.paths),
        dropped=state.data.dropped,
        seconds=time.perf_counter() - started,
    )
    if is_main:
        summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(out).items()}
        (run_dir / SUMMARY_JSON).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return out


def _export(best: Path, target: Path) -> None:
    """Copy the best checkpoint's encoder files (not the trainer state) to `target`."""
    if not (best / "museed_encoder.json").exists():
        raise TrainError(f"no best checkpoint at {best}")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(best, tmp, ignore=shutil.ignore_patterns(TRAINER_STATE_FILE, "*.tmp"))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def write_run_files(run_dir: Path, config: TrainConfig, triplets: Path, fma: Path) -> None:
    """config.yml, config.json and run.json (seed, git revision, inputs, versions) in the run dir."""
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    run = {
        "seed": config.seed,
        "git_revision": git_revision(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "triplets": str(Path(triplets).resolve()),
        "fma": str(Path(fma).resolve()),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")


def train_run(
    fma: Path,
    triplets: Path,
    run_dir: Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TrainReport:
    """`museed train`: one process, CPU or one GPU. Writes everything into `run_dir`."""
    from museed.catalog import load_catalog

    run_dir = Path(run_dir)
    latest = run_dir / CHECKPOINTS_DIR / "latest"
    if not resume and (run_dir / CHECKPOINTS_DIR).exists():
        raise TrainError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    if resume and not (latest / TRAINER_STATE_FILE).exists():
        raise TrainError(f"nothing to resume: no {latest / TRAINER_STATE_FILE}")
    seed_everything(config.seed)  # seeds first
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    catalog = load_catalog(fma, scan_unlisted=False)
    paths = {int(t): (p if isinstance(p, str) else None) for t, p in catalog.tracks["audio_path"].items()}
    data = load_triplet_data(triplets, paths, config)
    if not resume:
        write_run_files(run_dir, config, triplets, fma)
    state = build_state(config, data)
    if resume:
        restore_checkpoint(state, latest)
    return fit(state, run_dir, progress=progress)
