"""The network that trains: MuQ backbone -> mean over time of hidden layer `layer` -> projection head -> L2
normalisation, the unfreeze policy, and the triplet loss on cosine distance.

Unfreeze policy (`unfreeze`): `head` (backbone frozen), `top:K` (the K conformer layers below the pooled layer,
plus the final layer norm when the last layer is pooled), `all` (conv front end and conformer). BatchNorm layers
always stay in eval mode: small triplet batches would corrupt their running statistics.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedding.encoders import MuQEncoder, build_projection_head, load_encoder
from training.config import TrainConfig, TrainError


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
        pooled: torch.Tensor = out.hidden_states[self.encoder.layer].mean(dim=1)
        return pooled

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
    spec = {"in_dim": base.backbone_dim, **config.head}
    if spec["type"] == "residual":  # x + f(x): keeps the backbone's width, the identity until trained
        spec.setdefault("out_dim", base.backbone_dim)
        if int(spec["out_dim"]) != base.backbone_dim:
            raise TrainError(f"a residual head keeps the backbone's width {base.backbone_dim}, not {spec['out_dim']}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        head = build_projection_head(spec)
    return base.with_head(
        head,
        spec,
        # the checkpoint records the encoder training started from, not this headed copy of it
        {
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
    params: list[nn.Parameter] = []
    for module in encoder.backbone_modules(unfreeze):
        for p in module.parameters():
            p.requires_grad_(True)
            params.append(p)
    return params


def triplet_margins(config: TrainConfig, levels: np.ndarray) -> float | torch.Tensor:
    """The margin of each triplet: `margin`, scaled by `level_margins[level]` when the config sets them.

    Negatives of levels 0-3 share the anchor's genre; a smaller margin for them than for easy (other-genre)
    negatives keeps the genre the coarsest structure while the finer tags still order the neighbours.
    """
    if config.level_margins is None:
        return config.margin
    factors = np.asarray(config.level_margins, dtype=np.float32)[np.asarray(levels, dtype=np.int64)]
    return torch.from_numpy(config.margin * factors)


def keep_batchnorm_eval(module: nn.Module) -> None:
    """Put every BatchNorm back in eval mode (after `module.train()`)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def triplet_terms(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float | torch.Tensor,
    *,
    extra_negatives: torch.Tensor | None = None,
    extra_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-triplet (loss, d_ap, d_an) on cosine distance of L2-normalised vectors (`margin`: one, or one per triplet).

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
