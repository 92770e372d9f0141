"""Writing a run directory (layout: `museed.rundir`): config and provenance files, the CSV logs and their
figure, checkpoints (encoder + trainer state for --resume) and the exported encoder."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from embedding.encoders import save_encoder_checkpoint
from museed.rundir import CONFIG_JSON, CONFIG_YML, CURVES_PNG, RUN_JSON, TRAINER_STATE_FILE, read_curves
from training.config import TrainConfig, TrainError

if TYPE_CHECKING:
    from training.state import State


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


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write `rows` (the union of their keys, in first-seen order, as columns) atomically; nothing when empty."""
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

    steps, val = read_curves(run_dir)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if not steps.empty:
        ax1.plot(steps["step"], steps["triplet/loss"], lw=0.8, label="train triplet loss (per step)")
    if not val.empty:
        ax1.plot(val["step"], val["val/triplet_loss"], "o-", label="val triplet loss")
        ax2.plot(val["epoch"], val["val/triplet_acc"], "o-", label="val triplet acc")
        if "val/knn_genre_other_artists" in val and val["val/knn_genre_other_artists"].notna().any():
            ax2.plot(val["epoch"], val["val/knn_genre_other_artists"], "s-", label="val genre k-NN (other artists)")
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


def export_encoder(best: Path, target: Path) -> None:
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
    (run_dir / CONFIG_YML).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    (run_dir / CONFIG_JSON).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    run = {
        "seed": config.seed,
        "git_revision": git_revision(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "triplets": str(Path(triplets).resolve()),
        "fma": str(Path(fma).resolve()),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    (run_dir / RUN_JSON).write_text(json.dumps(run, indent=2) + "\n")
