"""One experiment's settings (`TrainConfig`, a YAML file in training/configs/) and the training error class."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from museed.errors import PipelineError

CONFIGS_DIR: Final = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG: Final = CONFIGS_DIR / "small_cpu.yml"
#: the experiment an encoder (spec or encoder id, by prefix) fine-tunes with on CPU; anything else: DEFAULT_CONFIG
ENCODER_CONFIGS: Final = {"musicnn": CONFIGS_DIR / "musicnn_cpu.yml"}
#: every training module logs under the one name the run's lines always had
RUN_LOGGER: Final = "training.train"
#: validation metrics a run may pick its `best` checkpoint by (all on the artist-disjoint validation split)
SELECT_METRICS: Final = (
    "val/triplet_acc",
    "val/knn_genre_other_artists",
    "val/knn_genre_and_triplet_acc",  # the mean of the two: genre clusters and the finer tag order
)


def config_for_encoder(encoder: str) -> Path:
    """The CPU experiment file for `encoder` (a `load_encoder` spec or an encoder id such as `musicnn:MSD_...`)."""
    return ENCODER_CONFIGS.get(encoder.partition(":")[0], DEFAULT_CONFIG)


class TrainError(PipelineError):
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
    # per-level margin factors (level 0 source-hard .. 4 easy; None: `margin` for every level)
    level_margins: list[float] | None = None
    mining: str = "none"  # none | semihard
    # "discriminant": a linear head computed in closed form from the training split's cached features before the
    # first epoch (whitened features beside the genre and mood_style discriminant directions, weighted by
    # `discriminant_weight`, ridge `discriminant_ridge`); null: the head type's own initialisation
    head_init: str | None = None
    discriminant_weight: float = 0.5
    discriminant_ridge: float = 0.01
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
    select_metric: str = "val/triplet_acc"  # checkpoint `best` (and early stopping) maximise this
    patience: int | None = None  # stop after this many epochs without a better `select_metric`
    knn_k: int = 10  # neighbours of the validation k-NN metrics
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
        if self.head_init not in (None, "discriminant"):
            raise TrainError(f"head_init must be null or 'discriminant', not {self.head_init!r}")
        if "type" not in self.head or (
            "out_dim" not in self.head and self.head["type"] != "residual" and self.head_init != "discriminant"
        ):
            raise TrainError("head needs at least 'type' and 'out_dim' (a residual head keeps the backbone's width)")
        if self.level_margins is not None and (
            len(self.level_margins) != 5 or any(not 0 <= float(f) <= 10 for f in self.level_margins)
        ):
            raise TrainError(
                "level_margins needs 5 factors in [0, 10], one per negative level (0 source-hard .. 4 easy)"
            )
        if self.head_init == "discriminant" and (
            self.head.get("type") != "linear" or self.unfreeze != "head" or not self.feature_cache
        ):
            raise TrainError("head_init 'discriminant' needs head type 'linear', unfreeze 'head' and feature_cache")
        if not 0 < self.discriminant_weight <= 10 or not 0 < self.discriminant_ridge <= 10:
            raise TrainError("discriminant_weight must be in (0, 10] and discriminant_ridge in (0, 10]")
        if self.select_metric not in SELECT_METRICS:
            raise TrainError(f"select_metric must be one of {list(SELECT_METRICS)}, not {self.select_metric!r}")
        if self.patience is not None and self.patience < 1:
            raise TrainError("patience must be >= 1 (or null: run every epoch)")
        if self.knn_k < 1:
            raise TrainError("knn_k must be >= 1")
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
