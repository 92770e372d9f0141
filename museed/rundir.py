"""The layout of a `museed train` run directory: the one place its file names live, and the readers of its logs.

Training writes through these names (`training.rundir`, `training.loop`); evaluation reads a run through
`read_curves` / `read_summary` without importing any training code::

    <run>/config.yml, config.json   the experiment (`training.config.TrainConfig`)
    <run>/run.json                  seed, git revision, inputs, library versions
    <run>/steps.csv                 one row per optimiser step (triplet/loss, triplet/active, lr)
    <run>/val_metrics.csv           one row per epoch (epoch 0 = before training)
    <run>/curves.png                the two logs as a figure
    <run>/summary.json              the run's `TrainReport`
    <run>/checkpoints/latest|best   encoder checkpoints (+ trainer.pt, the optimiser state for --resume)
    <run>/encoder/                  the best checkpoint without trainer state: `museed embed --encoder` loads it
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pandas as pd

CHECKPOINTS_DIR: Final = "checkpoints"
LATEST_CHECKPOINT: Final = "latest"
BEST_CHECKPOINT: Final = "best"
EXPORT_DIR: Final = "encoder"
TRAINER_STATE_FILE: Final = "trainer.pt"
STEPS_CSV: Final = "steps.csv"
VAL_CSV: Final = "val_metrics.csv"
CURVES_PNG: Final = "curves.png"
SUMMARY_JSON: Final = "summary.json"
CONFIG_YML: Final = "config.yml"
CONFIG_JSON: Final = "config.json"
RUN_JSON: Final = "run.json"


def has_training_logs(run_dir: Path) -> bool:
    """Whether `run_dir` holds at least one of the two logs (steps or validation metrics) of a run."""
    run_dir = Path(run_dir)
    return (run_dir / STEPS_CSV).exists() or (run_dir / VAL_CSV).exists()


def read_curves(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, validation metrics) of a run; a log not (yet) written is an empty frame."""
    run_dir = Path(run_dir)
    steps = pd.read_csv(run_dir / STEPS_CSV) if (run_dir / STEPS_CSV).exists() else pd.DataFrame()
    val = pd.read_csv(run_dir / VAL_CSV) if (run_dir / VAL_CSV).exists() else pd.DataFrame()
    return steps, val


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary.json (empty before the run finished)."""
    path = Path(run_dir) / SUMMARY_JSON
    return dict(json.loads(path.read_text())) if path.exists() else {}


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's config.json (empty when the run never started)."""
    path = Path(run_dir) / CONFIG_JSON
    return dict(json.loads(path.read_text())) if path.exists() else {}
