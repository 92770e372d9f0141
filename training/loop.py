"""The training and validation loops and `fit`, which runs the epochs, checkpoints and logs a run.

`train_loop` and `val_loop` are plain functions returning namespaced metrics ("triplet/loss", "val/triplet_loss",
"val/triplet_acc", "val/knn_genre_other_artists"); `fit` validates before training and after every epoch,
writes checkpoints `latest` and `best` and the run's logs; the same `fit` runs in one process
(`training.train.train_run`) and in every Ray Train worker (`training.distributed`).

Model selection: `best` maximises the config's `select_metric` on the validation triplets and tracks (the
artist-disjoint validation split, never the test split), and the starting point (epoch 0) is a candidate too:
with an identity-initialised residual head epoch 0 is the backbone's own vectors, so a run that never beats
them on validation exports them unchanged. `patience` stops a run after that many epochs without a better value.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from museed.rundir import (
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    EXPORT_DIR,
    LATEST_CHECKPOINT,
    STEPS_CSV,
    SUMMARY_JSON,
    VAL_CSV,
)
from training.config import RUN_LOGGER
from training.model import keep_batchnorm_eval, triplet_margins, triplet_terms
from training.rundir import export_encoder, git_revision, plot_curves, save_checkpoint, write_csv
from training.state import State, autocast, embed

log = logging.getLogger(RUN_LOGGER)


def _batch_loss(state: State, rows: pd.DataFrame, *, train: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embed each distinct track of the batch once, then the per-triplet terms."""
    ids = pd.unique(rows[["anchor", "positive", "negative"]].to_numpy().ravel())
    where = {int(t): i for i, t in enumerate(ids)}
    with autocast(state):
        emb = embed(state, [int(t) for t in ids], train=train).float()
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
    margin = triplet_margins(state.config, rows["level"].to_numpy())
    if isinstance(margin, torch.Tensor):
        margin = margin.to(emb.device)
    return triplet_terms(a, p, n, margin, extra_negatives=extra, extra_mask=mask)


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


def knn_accuracy_other_artists(vectors: np.ndarray, labels: np.ndarray, artists: np.ndarray, k: int) -> float:
    """Leave-one-artist-out k-NN accuracy: each query's neighbours (cosine) are other artists' tracks only; the
    vote is `museed evaluate`'s (most votes, ties to the label whose first voter ranks highest). NaN when no
    query has a neighbour."""
    sim = vectors @ vectors.T
    sim[artists[:, None] == artists[None, :]] = -np.inf  # the query itself and its artist's other tracks
    k = min(k, len(labels) - 1)
    if k < 1:
        return float("nan")
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    valid = np.isfinite(np.take_along_axis(sim, order, axis=1))
    correct = []
    for row in range(len(labels)):
        voters = labels[order[row][valid[row]]]
        if len(voters) == 0:
            continue
        names, first, counts = np.unique(voters, return_index=True, return_counts=True)
        best = np.lexsort((first, -counts))[0]  # most votes, then the earliest first voter
        correct.append(names[best] == labels[row])
    return float(np.mean(correct)) if correct else float("nan")


@torch.no_grad()
def val_loop(state: State, *, use_head: bool = True) -> dict[str, float]:
    """Loss and accuracy (d(a,p) < d(a,n)) over the validation triplets, overall and per negative level, and the
    genre k-NN accuracy among other artists over the validation tracks with a genre (anchors and positives).

    `use_head=False` scores the backbone's own pooled vectors (what `museed embed` stores without fine-tuning).
    """
    state.net.eval()
    cfg = state.config
    rows = state.data.val
    ids = [int(t) for t in pd.unique(rows[["anchor", "positive", "negative"]].to_numpy().ravel())]
    where = {t: i for i, t in enumerate(ids)}
    parts = []
    for start in range(0, len(ids), 32):
        with autocast(state):
            parts.append(embed(state, ids[start : start + 32], train=False, use_head=use_head).float())
    emb = torch.cat(parts)
    a, p, n = (emb[[where[int(t)] for t in rows[c]]] for c in ("anchor", "positive", "negative"))
    margin = triplet_margins(cfg, rows["level"].to_numpy())
    if isinstance(margin, torch.Tensor):
        margin = margin.to(emb.device)
    loss, d_ap, d_an = triplet_terms(a, p, n, margin)
    correct = (d_ap < d_an).cpu().numpy()
    out = {"val/triplet_loss": float(loss.mean()), "val/triplet_acc": float(correct.mean())}
    levels = rows["level"].to_numpy()
    for k in sorted(set(levels.tolist())):
        out[f"val/triplet_acc/level{k}"] = float(correct[levels == k].mean())
    labelled = [t for t in ids if t in state.data.genre and t in state.data.artists]
    if len({state.data.artists[t] for t in labelled}) >= 2:
        vectors = emb[[where[t] for t in labelled]].cpu().numpy().astype(np.float64)
        out["val/knn_genre_other_artists"] = knn_accuracy_other_artists(
            vectors,
            np.asarray([state.data.genre[t] for t in labelled]),
            np.asarray([state.data.artists[t] for t in labelled]),
            cfg.knn_k,
        )
    else:  # no artist ids (or one artist): the k-NN metric is undefined
        out["val/knn_genre_other_artists"] = float("nan")
    out["val/knn_genre_and_triplet_acc"] = (out["val/knn_genre_other_artists"] + out["val/triplet_acc"]) / 2
    return out


def selection_value(metrics: dict[str, Any], metric: str) -> float:
    """The value `best` maximises (NaN, e.g. a k-NN metric without artist ids, counts as the worst)."""
    value = float(metrics.get(metric, float("nan")))
    return value if np.isfinite(value) else float("-inf")


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
    select_metric: str = "val/triplet_acc"
    stopped_early: bool = False

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the CLI."""
        return [
            f"trained {self.epochs} epochs ({self.steps} steps) on {self.train_triplets} triplets "
            f"({self.tracks} tracks) in {self.seconds:.1f} s; validation triplets: {self.val_triplets}",
            f"val triplet loss {self.before['val/triplet_loss']:.4f} -> {self.after['val/triplet_loss']:.4f}, "
            f"accuracy {self.before['val/triplet_acc']:.3f} -> {self.after['val/triplet_acc']:.3f} "
            f"(best epoch {self.best_epoch} by {self.select_metric}: "
            f"{self.before.get(self.select_metric, float('nan')):.3f} -> "
            f"{self.after.get(self.select_metric, float('nan')):.3f}"
            f"{'; 0 = the starting encoder kept' if self.best_epoch == 0 else ''}"
            f"{'; stopped early' if self.stopped_early else ''}); untrained backbone without head: loss "
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
    cfg = state.config
    val_rows: list[dict[str, Any]] = pd.read_csv(run_dir / VAL_CSV).to_dict("records") if state.epoch else []
    if state.epoch and (run_dir / STEPS_CSV).exists():
        state.step_log = pd.read_csv(run_dir / STEPS_CSV).to_dict("records")
    extra = {"config": cfg.to_dict(), "git_revision": git_revision(), "run_dir": str(run_dir)}
    if state.epoch == 0:
        before = val_loop(state)
        backbone = {k.replace("val/", "val_backbone/"): v for k, v in val_loop(state, use_head=False).items()}
        before.update({k: v for k, v in backbone.items() if "/level" not in k})
        val_rows = [{"epoch": 0, "step": 0, **before}]
        if report:
            report(before)
        if is_main:  # the starting encoder is a candidate: a run that never beats it on validation exports it
            state.best_acc = selection_value(before, cfg.select_metric)
            save_checkpoint(state, ckpt / BEST_CHECKPOINT, {**extra, "epoch": 0, "metrics": before})
            write_csv(run_dir / VAL_CSV, val_rows)

    def since_best() -> int:
        scores = [selection_value(r, cfg.select_metric) for r in val_rows]
        return len(scores) - 1 - int(np.argmax(scores))  # argmax: the earliest of equal values

    stopped_early = False
    while state.epoch < cfg.epochs:
        if cfg.patience is not None and since_best() >= cfg.patience:
            stopped_early = True
            log.info(
                "no better %s for %d epochs: stopping early at epoch %d", cfg.select_metric, cfg.patience, state.epoch
            )
            break
        metrics = train_loop(state)
        state.epoch += 1
        val = val_loop(state)
        row = {"epoch": state.epoch, "step": state.step, **metrics, **val}
        val_rows.append(row)
        log.info("epoch %d: %s", state.epoch, {k: round(v, 4) for k, v in row.items()})
        if report:
            report(row)
        if is_main:
            value = selection_value(val, cfg.select_metric)
            if value > state.best_acc:
                state.best_acc = value
                save_checkpoint(state, ckpt / BEST_CHECKPOINT, {**extra, "epoch": state.epoch, "metrics": val})
            save_checkpoint(state, ckpt / LATEST_CHECKPOINT, {**extra, "epoch": state.epoch, "metrics": val})
            write_csv(run_dir / STEPS_CSV, state.step_log)
            write_csv(run_dir / VAL_CSV, val_rows)
            plot_curves(run_dir)
        if progress:
            progress(state.epoch, cfg.epochs)
    # the earliest of equal values: on a tie the starting encoder (epoch 0) wins
    best_row = max(val_rows, key=lambda r: selection_value(r, cfg.select_metric))
    encoder_dir = run_dir / EXPORT_DIR
    if is_main:
        export_encoder(ckpt / BEST_CHECKPOINT, encoder_dir)
        write_csv(run_dir / VAL_CSV, val_rows)
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
        select_metric=cfg.select_metric,
        stopped_early=stopped_early,
    )
    if is_main:
        summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(out).items()}
        (run_dir / SUMMARY_JSON).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return out
