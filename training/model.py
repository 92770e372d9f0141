"""The network that trains: MuQ backbone -> mean over time of hidden layer `layer` -> projection head -> L2
normalisation, the unfreeze policy, and the triplet loss on cosine distance.

Unfreeze policy (`unfreeze`): `head` (backbone frozen), `top:K` (the K conformer layers below the pooled layer,
plus the final layer norm when the last layer is pooled), `all` (conv front end and conformer). BatchNorm layers
always stay in eval mode: small triplet batches would corrupt their running statistics.
"""

from __future__ import annotations

from typing import Any

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


def build_encoder(
    config: TrainConfig,
    device: str | None = None,
    *,
    base: MuQEncoder | None = None,
    head: tuple[nn.Module, dict[str, Any]] | None = None,
) -> MuQEncoder:
    """The starting encoder with a fresh projection head (or the checkpoint's own head when it has one); `base`
    reuses an encoder already loaded, `head` (module, spec) puts that head on it instead of a fresh one."""
    base = base or load_encoder(config.encoder, device=device or config.device, layer=config.layer)
    if base.head is not None:
        return base  # continuing from a fine-tuned checkpoint: keep its head
    if head is not None:
        module, spec = head
    else:
        spec = {"in_dim": base.backbone_dim, **config.head}
        if spec["type"] == "residual":  # x + f(x): keeps the backbone's width, the identity until trained
            spec.setdefault("out_dim", base.backbone_dim)
            if int(spec["out_dim"]) != base.backbone_dim:
                raise TrainError(
                    f"a residual head keeps the backbone's width {base.backbone_dim}, not {spec['out_dim']}"
                )
        if config.head_init == "discriminant":
            spec["out_dim"] = base.backbone_dim  # a stand-in until `discriminant_head` replaces it
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            module = build_projection_head(spec)
    return base.with_head(
        module,
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


def _lda_directions(x: np.ndarray, labels: np.ndarray, ridge: float) -> np.ndarray:
    """(D, C-1) discriminant directions of the labelled rows of `x` (labels -1: none): the leading eigenvectors
    of Sw^-1 Sb, with `ridge` x the mean within-class variance added to Sw's diagonal."""
    keep = labels >= 0
    x, labels = x[keep], labels[keep]
    classes = [c for c in np.unique(labels) if (labels == c).sum() >= 2]
    mu = x.mean(0)
    within, between = np.zeros((x.shape[1],) * 2), np.zeros((x.shape[1],) * 2)
    for c in classes:
        xc = x[labels == c]
        mc = xc.mean(0)
        within += (xc - mc).T @ (xc - mc)
        between += len(xc) * np.outer(mc - mu, mc - mu)
    within, between = within / len(x), between / len(x)
    within += ridge * np.trace(within) / len(within) * np.eye(len(within))
    values, vectors = np.linalg.eig(np.linalg.solve(within, between))
    order = np.argsort(-values.real)[: max(1, len(classes) - 1)]
    directions: np.ndarray = vectors[:, order].real
    return directions


def discriminant_head(
    features: np.ndarray, genres: np.ndarray, moods: np.ndarray, weight: float, ridge: float
) -> tuple[nn.Linear, dict[str, Any]]:
    """A linear head computed in closed form from training features (N, D) with genre and mood codes (-1: none).

    Its output is three blocks side by side: the features whitened (every direction of the training features at
    unit variance, so the quieter directions that carry mood and instrumentation count as much as the loud
    ones), the genre discriminant directions (LDA) and the mood_style ones, each block scaled to a mean norm of
    1 over the training rows and the two discriminant blocks then by `weight`. On the synthetic corpus's
    test split this took genre k-NN (other artists) and ground-truth mood k-NN up by 8-16 pp for both encoders
    (docs/EMBEDDING.md); the triplet epochs that follow start from it, and epoch 0 is a `best` candidate.
    """
    x = features.astype(np.float64)
    mu = x.mean(0)
    centred = x - mu
    cov = np.cov(centred.T)
    values, vectors = np.linalg.eigh(cov + 1e-3 * np.trace(cov) / len(cov) * np.eye(len(cov)))
    blocks = [vectors / np.sqrt(values)]  # whitening
    scales = [1.0]
    for labels in (genres, moods):
        if len(np.unique(labels[labels >= 0])) >= 2:
            blocks.append(_lda_directions(x, labels, ridge))
            scales.append(weight)
    parts = []
    for block, scale in zip(blocks, scales, strict=True):
        norm = float(np.linalg.norm(centred @ block, axis=1).mean()) or 1.0
        parts.append(block * (scale / norm))
    matrix = np.hstack(parts)  # (D, out)
    head = nn.Linear(x.shape[1], matrix.shape[1])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(matrix.T.copy()))
        head.bias.copy_(torch.from_numpy(-(mu @ matrix)))
    spec = {"type": "linear", "in_dim": int(x.shape[1]), "out_dim": int(matrix.shape[1])}
    return head, spec


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
