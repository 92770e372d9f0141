"""`State`: everything a training run owns (descript-audio-codec's `State`), and how it is built and seeded.

`build_state` makes the encoder with its head, applies the unfreeze policy, builds AdamW with a cosine schedule
(with warm-up) and, head-only with `feature_cache`, computes the backbone features of `cache_crops` random crops
per track once. `embed` turns track ids into embeddings from those features or from fresh crops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.amp.grad_scaler import GradScaler  # the defining module: torch.amp does not re-export it for mypy

from embedding.encoders import MuQEncoder, load_encoder
from training.config import TrainConfig, TrainError
from training.data import TripletData, crop
from training.model import EmbeddingNet, build_encoder, discriminant_head, set_trainable


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
    """Encoder + head, trainable parameters, optimiser, cosine schedule with warm-up, feature cache (and, with
    `head_init: discriminant`, the closed-form head computed from it)."""
    base = load_encoder(config.encoder, device=device or config.device, layer=config.layer)
    encoder = build_encoder(config, base=base)
    if encoder.sample_rate != data.sample_rate:
        raise TrainError(
            f"{encoder.encoder_id} takes {encoder.sample_rate} Hz; the audio was decoded at {data.sample_rate}"
        )
    backbone_params = set_trainable(encoder, config.unfreeze)
    net: nn.Module = EmbeddingNet(encoder, backbone_trainable=bool(backbone_params)).to(encoder.device)
    rng = np.random.default_rng(config.seed)
    features = None
    if not backbone_params and config.feature_cache:
        features = _cache_features(config, net, data, rng)
        if config.head_init == "discriminant" and encoder is not base:
            encoder = build_encoder(config, base=base, head=_discriminant(config, data, features))
            set_trainable(encoder, config.unfreeze)
            net = EmbeddingNet(encoder, backbone_trainable=False).to(encoder.device)
    data.features = features
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
    state = State(config, encoder, net, optimizer, scheduler, data, encoder.device, rng)
    if config.mixed_precision and state.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        state.scaler = GradScaler("cuda")
    if wrap is not None:
        state.net = wrap(net)
    return state


def autocast(state: State) -> Any:
    if state.config.mixed_precision and state.device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def _discriminant(
    config: TrainConfig, data: TripletData, features: dict[int, torch.Tensor]
) -> tuple[nn.Module, dict[str, Any]]:
    """`discriminant_head` from every cached crop of the training tracks, with their genre and mood_style."""
    train_ids = sorted(set(data.train[["anchor", "positive", "negative"]].to_numpy().ravel().tolist()))
    if not data.mood:
        raise TrainError(
            "head_init 'discriminant' needs triplets with mood_style columns: rebuild them (`museed triplets`)"
        )
    genre_names = sorted({data.genre[int(t)] for t in train_ids if int(t) in data.genre})
    mood_names = sorted({data.mood[int(t)] for t in train_ids if int(t) in data.mood})
    rows, genres, moods = [], [], []
    for t in train_ids:
        crops = features[int(t)]
        rows.append(crops.numpy())
        g, m = data.genre.get(int(t)), data.mood.get(int(t))
        genres += [genre_names.index(g) if g is not None else -1] * len(crops)
        moods += [mood_names.index(m) if m is not None else -1] * len(crops)
    head, spec = discriminant_head(
        np.concatenate(rows),
        np.asarray(genres),
        np.asarray(moods),
        config.discriminant_weight,
        config.discriminant_ridge,
    )
    return head, {**spec, "init": "discriminant"}


def _cache_features(
    config: TrainConfig, net: nn.Module, data: TripletData, rng: np.random.Generator
) -> dict[int, torch.Tensor]:
    """Backbone features of `cache_crops` random crops (training tracks) and the centre crop of every track."""
    cfg = config
    assert isinstance(net, EmbeddingNet)
    device = net.encoder.device
    samples = int(cfg.crop_seconds * net.encoder.sample_rate)
    train_ids = set(data.train[["anchor", "positive", "negative"]].to_numpy().ravel().tolist())
    feats: dict[int, torch.Tensor] = {}
    net.eval()
    ids = data.track_ids
    on_gpu = cfg.mixed_precision and device.type == "cuda"
    dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float16
    with torch.inference_mode(), torch.autocast(device.type if on_gpu else "cpu", dtype=dtype, enabled=on_gpu):
        for start in range(0, len(ids), 16):
            chunk = ids[start : start + 16]
            waves, counts = [], []
            for tid in chunk:
                clip = data.clip(tid)
                # validation-only tracks need only their centre crop
                n_random = cfg.cache_crops if tid in train_ids else 0
                waves.extend([crop(clip, samples, rng, cfg.gain_db) for _ in range(n_random)])
                waves.append(crop(clip, samples, None))
                counts.append(n_random + 1)
            out = net.backbone_features(torch.from_numpy(np.stack(waves)).to(device)).float().cpu()
            offset = 0
            for tid, count in zip(chunk, counts, strict=True):
                rows = out[offset : offset + count]
                offset += count
                if count == 1:  # keep one shape: the centre crop stands in for the random ones
                    rows = rows.repeat(cfg.cache_crops + 1, 1)
                feats[tid] = rows.clone()
    return feats


def embed(state: State, track_ids: Sequence[int], *, train: bool, use_head: bool = True) -> torch.Tensor:
    """Embeddings of `track_ids` (a random crop and gain when training, the centre crop otherwise)."""
    cfg = state.config
    if state.data.features is not None:
        crops = cfg.cache_crops
        pick = state.rng.integers(0, crops, len(track_ids)) if train else np.full(len(track_ids), crops)
        feats = torch.stack([state.data.features[int(t)][int(i)] for t, i in zip(track_ids, pick, strict=True)])
        from_features: torch.Tensor = state.net(features=feats.to(state.device), use_head=use_head)
        return from_features
    samples = int(cfg.crop_seconds * state.encoder.sample_rate)
    rng = state.rng if train else None
    waves = np.stack([crop(state.data.clip(int(t)), samples, rng, cfg.gain_db) for t in track_ids])
    from_waves: torch.Tensor = state.net(waves=torch.from_numpy(waves).to(state.device), use_head=use_head)
    return from_waves
