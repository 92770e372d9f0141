"""`museed train`: triplet-loss fine-tuning of MuQ with a projection head (descript-audio-codec's train.py
pattern); `train_run` wires the pieces, one module per concern:

    training.config   `TrainConfig` (one YAML file in training/configs/), `TrainError`
    training.data     the triplets and the decoded audio (or cached backbone features) of their tracks, crops
    training.model    `EmbeddingNet`, the unfreeze policy, the triplet loss
    training.state    `State` (network, optimiser, scheduler, data) and `build_state`
    training.loop     `train_loop`, `val_loop` and `fit` (epochs, checkpoints, logs), shared with Ray Train
    training.rundir   writing the run directory (its layout: `museed.rundir`)

Model: MuQ backbone -> mean over time of hidden layer `layer` -> projection head -> L2 normalisation. Loss:
triplet margin loss on cosine distance d = 1 - cos, max(0, d(a, p) - d(a, n) + margin); with
`mining: semihard` the negative distance of each anchor is the smallest of its own negative's and those of the
batch's other anchors/positives of a different genre (certain negatives) that are still farther than the
positive (FaceNet's semi-hard rule). Mining is off by default: on the small CPU model with 8-16 triplets per
batch both the hardest and the semi-hard variant collapsed every embedding to one point within ~10 steps (all
distances ~0, loss stuck at the margin, every triplet active) in trial runs, while plain triplets learned.
Try it only with large batches (FaceNet used thousands of exemplars per batch).

Head and model selection: `head: {type: residual}` is x + f(x) with f's last layer zero-initialised, so epoch 0
is exactly the backbone's own (un-tuned) vectors; `best` maximises `select_metric` on the artist-disjoint
validation split with epoch 0 a candidate, and `patience` stops a run early (`training.loop`);
`level_margins` scales the margin per negative level.

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

from collections.abc import Callable
from pathlib import Path

import torch

from museed.rundir import CHECKPOINTS_DIR, LATEST_CHECKPOINT, TRAINER_STATE_FILE
from training.config import DEFAULT_CONFIG, TrainConfig, TrainError
from training.data import load_triplet_data
from training.loop import TrainReport, fit
from training.rundir import restore_checkpoint, write_run_files
from training.state import build_state, seed_everything

#: the entry point's surface (the CLI's stage imports these from here)
__all__ = ["DEFAULT_CONFIG", "TrainConfig", "TrainError", "TrainReport", "train_run"]


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
    latest = run_dir / CHECKPOINTS_DIR / LATEST_CHECKPOINT
    if not resume and (run_dir / CHECKPOINTS_DIR).exists():
        raise TrainError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    if resume and not (latest / TRAINER_STATE_FILE).exists():
        raise TrainError(f"nothing to resume: no {latest / TRAINER_STATE_FILE}")
    seed_everything(config.seed)  # seeds first
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    catalog = load_catalog(fma, scan_unlisted=False)
    data = load_triplet_data(
        triplets,
        catalog.audio_paths(),
        config,
        artists=catalog.tracks["artist_id"].to_dict(),
        genres=catalog.tracks["genre_top"].to_dict(),
    )
    if not resume:
        write_run_files(run_dir, config, triplets, fma)
    state = build_state(config, data)
    if resume:
        restore_checkpoint(state, latest)
    return fit(state, run_dir, progress=progress)
