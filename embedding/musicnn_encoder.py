"""The MusiCNN backend: `MusicnnEncoder`, the pretrained MusiCNN of `embedding.musicnn` behind the `Encoder` protocol.

It is a `MuQEncoder` in everything the pipeline relies on (clip vectors = mean over time of one hidden state,
track vectors = mean over clips then L2, an optional projection head, `pooled` for training, eval-mode
inference), so the embedding job, Ray, uploads, evaluation and training take it unchanged; only the backbone,
its identity and its unfreeze policy differ. Clips are 16 kHz (musicnn's rate). Layer 1 (default) is the 200-d
penultimate layer; layer 0 the 1506-d max/mean-pooled mid-end features.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from embedding.base import EncoderError, library_versions, state_dict_digest
from embedding.checkpoint import CHECKPOINT_VERSION, load_checkpoint_weights
from embedding.muq_encoder import MuQEncoder, _check_segments, _config_hash, check_encoder_args
from embedding.musicnn import (
    LAYER_DIMS,
    MUSICNN_SAMPLE_RATE,
    VARIANTS,
    MusicnnBackbone,
    build_musicnn,
    musicnn_config,
    package_dir,
    package_version,
    tag_labels,
)
from embedding.musicnn import weights_licence as variant_licence

MUSICNN_KIND = "musicnn"
DEFAULT_VARIANT = "MSD_musicnn"
PENULTIMATE_LAYER = 1


class MusicnnEncoder(MuQEncoder):
    """An `Encoder` around a `MusicnnBackbone` (pretrained from the musicnn wheel, or a fine-tuned checkpoint)."""

    def __init__(
        self,
        model: MusicnnBackbone,
        *,
        source: str,
        layer: int | None = None,
        device: str | None = None,
        batch_size: int = 8,
        kind: str = MUSICNN_KIND,
        weights_fingerprint: str | None = None,
        head: nn.Module | None = None,
        head_spec: Mapping[str, Any] | None = None,
        label: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        weights_licence: str | None = None,
    ) -> None:
        check_encoder_args(batch_size, head, head_spec)
        self.model = model  # the MuQ call shape, not a muq.MuQ
        self.variant = model.variant
        self.kind, self.source, self.batch_size = kind, source, batch_size
        self.sample_rate = MUSICNN_SAMPLE_RATE
        self.muq_config = {}  # no MuQ here; `musicnn_config` is the architecture record
        self.musicnn_config = dict(musicnn_config(self.variant))
        self.n_hidden_states = len(LAYER_DIMS)
        self.layer = PENULTIMATE_LAYER if layer is None else int(layer)
        if not 0 <= self.layer < len(LAYER_DIMS):
            raise EncoderError(f"layer {self.layer} does not exist: MusiCNN has hidden states 0 (1506-d), 1 (200-d)")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = torch.float32
        self.head = head
        self.head_spec = dict(head_spec) if head_spec is not None else None
        self.dim = int(self.head_spec["out_dim"]) if self.head_spec else LAYER_DIMS[self.layer]
        self.weights_fingerprint = weights_fingerprint or f"sha256:{state_dict_digest(model)}"
        self.provenance = dict(provenance or {})
        self.weights_licence = weights_licence or variant_licence(self.variant)
        self.place_on_device()
        self.config_hash = _config_hash(
            kind=kind,
            musicnn_config=self.musicnn_config,
            layer=self.layer,
            pooling=self.pooling,
            head=self.head_spec,
            weights=self.weights_fingerprint,
        )
        self.encoder_id = (
            f"musicnn:{self.variant}:L{self.layer}-{self.pooling}"
            if kind == MUSICNN_KIND
            else f"{kind}:{label or source}:L{self.layer}-{self.pooling}:{self.config_hash[:8]}"
        )

    def __repr__(self) -> str:
        return f"MusicnnEncoder({self.encoder_id!r}, dim={self.dim}, device={self.device})"

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce this encoder's vectors (JSON-serialisable), licence included."""
        described = super().describe()
        described.pop("muq_config")
        described["musicnn_config"] = self.musicnn_config
        described["versions"] = {**library_versions(), "musicnn": package_version()}
        return described

    @property
    def backbone_dim(self) -> int:
        """Width of the pooled hidden layer (200 for the penultimate layer)."""
        return LAYER_DIMS[self.layer]

    def checkpoint_fields(self) -> dict[str, Any]:
        """What a MUSEED checkpoint records to rebuild this backbone."""
        return {"backbone": MUSICNN_KIND, "musicnn_config": self.musicnn_config}

    def backbone_modules(self, unfreeze: str) -> list[nn.Module]:
        """Top-down blocks: `top:1` the penultimate dense layer (+ its BatchNorms), `top:2` also the last mid-end
        conv, `top:3` and `top:4` the other two, `all` every layer (front end included)."""
        net = self.model.net
        blocks: list[list[nn.Module]] = [[net.pool_bn, net.dense, net.dense_bn], *[[m] for m in net.midend[::-1]]]
        if self.layer == 0:  # the 1506-d features sit below the dense layer: it cannot change them
            blocks = blocks[1:]
        if unfreeze == "all":
            return [net]
        if unfreeze.startswith("top:"):
            return [m for block in blocks[: int(unfreeze[4:])] for m in block]
        return []

    def tag_probabilities(self, segments: np.ndarray) -> np.ndarray:
        """(n, samples) 16 kHz clips -> (n, 50) tag probabilities (mean over each clip's 3-s patches)."""
        batch = _check_segments(segments)
        parts = [np.zeros((0, 50), dtype=np.float32)]
        with self._eval_mode(), torch.inference_mode():
            for start in range(0, len(batch), self.batch_size):
                chunk = torch.from_numpy(batch[start : start + self.batch_size]).to(self.device)
                logits = self.model(chunk).logits
                parts.append(torch.sigmoid(logits).mean(dim=1).cpu().numpy())
        return np.concatenate(parts)

    @property
    def tags(self) -> tuple[str, ...]:
        """The names of `tag_probabilities`' columns."""
        return tag_labels(self.variant)


def load_musicnn(spec: str, *, device: str | None, batch_size: int, layer: int | None) -> MusicnnEncoder:
    """`musicnn` (MSD_musicnn), `musicnn:MSD` / `musicnn:MTT` or `musicnn:MSD_musicnn`: the wheel's weights."""
    name = spec.partition(":")[2] or DEFAULT_VARIANT
    variant = name if name in VARIANTS else f"{name.upper()}_musicnn"
    if variant not in VARIANTS:
        raise EncoderError(f"unknown musicnn variant in {spec!r}: expected musicnn, musicnn:MSD or musicnn:MTT")
    package = package_dir()
    model = build_musicnn(variant, package)
    return MusicnnEncoder(
        model,
        source=f"musicnn:{variant}",
        layer=layer,
        device=device,
        batch_size=batch_size,
        weights_fingerprint=f"pypi:musicnn=={package_version()}/{variant}:sha256:{state_dict_digest(model)}",
        provenance={"weights": str(package / variant), "package": f"musicnn=={package_version()}"},
    )


def load_musicnn_checkpoint(
    path: Path, meta: Mapping[str, Any], *, device: str | None, batch_size: int, layer: int | None
) -> MusicnnEncoder:
    """A MUSEED checkpoint whose backbone is MusiCNN (written by `save_encoder_checkpoint` after fine-tuning)."""
    if meta.get("format_version") != CHECKPOINT_VERSION:
        raise EncoderError(
            f"{path}: checkpoint format version {meta.get('format_version')!r}, not {CHECKPOINT_VERSION}"
        )
    config = meta.get("musicnn_config") or {}
    if config.get("variant") not in VARIANTS:
        raise EncoderError(f"{path}: musicnn checkpoint without a known variant ({config.get('variant')!r})")
    model = MusicnnBackbone(str(config["variant"]))
    parts = load_checkpoint_weights(path, meta, model)
    layer = meta.get("layer") if layer is None else layer
    return MusicnnEncoder(model.eval(), layer=layer, device=device, batch_size=batch_size, **parts)
