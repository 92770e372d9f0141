"""The MUSEED checkpoint format: a MuQ backbone plus an optional projection head, written by training.

`save_encoder_checkpoint` writes it, `load_checkpoint` (reached through `embedding.encoders.load_encoder(DIR)`)
reads it back into a `MuQEncoder` whose encoder id and config hash name the fine-tuned weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from embedding.base import EncoderError, library_versions
from embedding.muq_encoder import POOLING, MuQEncoder
from embedding.weights import file_digest, load_state, read_json, read_weights

CHECKPOINT_FILE = "museed_encoder.json"
CHECKPOINT_FORMAT = "museed_encoder"
CHECKPOINT_VERSION = 1
BACKBONE_WEIGHTS_FILE = "muq.safetensors"
HEAD_WEIGHTS_FILE = "head.safetensors"


# ---------------------------------------------------------------------------------------------------------
# projection heads (added by fine-tuning; part of the checkpoint format)


class ResidualHead(nn.Module):
    """x + up(dropout(act(down(x)))) with `up` zero-initialised: before any training step the head is the
    identity, so a fine-tuning run starts exactly at the backbone's own (pretrained) vectors."""

    def __init__(self, dim: int, hidden: int, activation: type[nn.Module], dropout: float) -> None:
        super().__init__()
        self.down = nn.Linear(dim, hidden)
        self.act = activation()
        self.dropout = nn.Dropout(dropout)
        self.up = nn.Linear(hidden, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.up(self.dropout(self.act(self.down(x))))
        return out


def build_projection_head(spec: Mapping[str, Any]) -> nn.Module:
    """A projection head from its checkpoint spec.

    `{"type": "linear", "in_dim": D, "out_dim": E}`,
    `{"type": "mlp", "in_dim": D, "hidden_dim": H, "out_dim": E, "activation": "gelu" | "relu"}` or
    `{"type": "residual", "in_dim": D, "hidden_dim": H, "out_dim": D, "activation": ..., "dropout": p}`
    (`ResidualHead`: the identity until trained; out_dim must equal in_dim).
    """
    try:
        kind = spec["type"]
        in_dim, out_dim = int(spec["in_dim"]), int(spec["out_dim"])
        if kind == "linear":
            return nn.Linear(in_dim, out_dim)
        activation = {"gelu": nn.GELU, "relu": nn.ReLU}[spec.get("activation", "gelu")]
        if kind == "mlp":
            hidden = int(spec["hidden_dim"])
            return nn.Sequential(nn.Linear(in_dim, hidden), activation(), nn.Linear(hidden, out_dim))
        if kind == "residual":
            if out_dim != in_dim:
                raise ValueError(f"a residual head keeps the width: out_dim {out_dim} != in_dim {in_dim}")
            dropout = float(spec.get("dropout", 0.0))
            if not 0.0 <= dropout < 1.0:
                raise ValueError(f"dropout must be in [0, 1), not {dropout}")
            return ResidualHead(in_dim, int(spec["hidden_dim"]), activation, dropout)
    except (KeyError, TypeError, ValueError) as error:
        raise EncoderError(f"invalid projection head spec {dict(spec)!r}: {error!r}") from None
    raise EncoderError(f"unknown projection head type {kind!r} (expected 'linear', 'mlp' or 'residual')")


# ---------------------------------------------------------------------------------------------------------
# the checkpoint directory


def load_checkpoint(path: Path, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    """The MUSEED checkpoint directory `path` (see `save_encoder_checkpoint`) as a `MuQEncoder`."""
    from muq import MuQ, MuQConfig

    meta = read_json(path / CHECKPOINT_FILE)
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("format_version") != CHECKPOINT_VERSION:
        raise EncoderError(
            f"{path / CHECKPOINT_FILE} is not a {CHECKPOINT_FORMAT} v{CHECKPOINT_VERSION} file "
            f"(format={meta.get('format')!r}, version={meta.get('format_version')!r})"
        )
    if meta.get("backbone") != "muq" or meta.get("pooling", POOLING) != POOLING:
        raise EncoderError(f"{path}: unsupported backbone/pooling {meta.get('backbone')!r}/{meta.get('pooling')!r}")
    try:
        with torch.random.fork_rng(devices=[]):
            model = MuQ(MuQConfig(**meta["muq_config"]))
    except Exception as error:
        raise EncoderError(f"cannot build MuQ from {path / CHECKPOINT_FILE}: {error}") from None
    parts = load_checkpoint_weights(path, meta, model)
    layer = meta.get("layer") if layer is None else layer
    return MuQEncoder(model.eval(), layer=layer, device=device, batch_size=batch_size, **parts)


def load_checkpoint_weights(path: Path, meta: Mapping[str, Any], backbone: nn.Module) -> dict[str, Any]:
    """Load checkpoint `path`'s backbone (into `backbone`) and head weights; returns the encoder's keyword
    arguments that name them (source, kind, weights_fingerprint, head, head_spec, label, provenance)."""
    weights = path / meta.get("weights", BACKBONE_WEIGHTS_FILE)
    load_state(backbone, read_weights(weights), path, required_prefixes=None)
    digests = [file_digest(weights)]
    head, head_spec = None, meta.get("head")
    if head_spec is not None:
        head = build_projection_head(head_spec)
        head_weights = path / meta.get("head_weights", HEAD_WEIGHTS_FILE)
        load_state(head, read_weights(head_weights), path, required_prefixes=None)
        digests.append(file_digest(head_weights))
    base = meta.get("base") or {}
    return {
        "source": str(path),
        "kind": "museed-ckpt",
        "weights_fingerprint": "sha256:" + "+".join(digests),
        "head": head,
        "head_spec": head_spec,
        "label": f"{path.name}[{base.get('kind', 'unknown')}]",
        "provenance": {"base": base, "created_at": meta.get("created_at"), "extra": meta.get("extra", {})},
    }


def save_encoder_checkpoint(encoder: MuQEncoder, path: Path | str, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write `encoder` as a MUSEED checkpoint directory that `load_encoder(path)` reads back.

    Layout: `muq.safetensors` (the backbone's state dict, MuQ or MusiCNN), `head.safetensors` (only with a
    projection head) and `museed_encoder.json`: format, format_version, backbone ("muq" with muq_config, or
    "musicnn" with musicnn_config), layer, pooling, sample_rate,
    dim, weights, head (spec or null), head_weights, base (encoder_id, kind, source, config_hash of the
    encoder it came from), created_at, versions, extra (free-form, e.g. training run metadata). The JSON is
    written last, so a directory with it is a complete checkpoint.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _atomic_save(save_file, _cpu_state(encoder.model), path / BACKBONE_WEIGHTS_FILE)
    if encoder.head is not None:
        _atomic_save(save_file, _cpu_state(encoder.head), path / HEAD_WEIGHTS_FILE)
    base = encoder.provenance.get("base")  # a fine-tuned or training encoder knows where it started
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        **encoder.checkpoint_fields(),  # backbone ("muq" or "musicnn") and its architecture record
        "layer": encoder.layer,
        "pooling": encoder.pooling,
        "sample_rate": encoder.sample_rate,
        "dim": encoder.dim,
        "weights": BACKBONE_WEIGHTS_FILE,
        "head": encoder.head_spec,
        "head_weights": HEAD_WEIGHTS_FILE if encoder.head is not None else None,
        "base": base
        or {
            "encoder_id": encoder.encoder_id,
            "kind": encoder.kind,
            "source": encoder.source,
            "config_hash": encoder.config_hash,
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "extra": dict(extra or {}),
    }
    tmp = path / (CHECKPOINT_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path / CHECKPOINT_FILE)
    return path


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _atomic_save(save_file: Any, state: dict[str, torch.Tensor], target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, target)
