"""The small randomly initialised MuQ: the real MuQ architecture, narrower and shallower, built offline from a seed.

It lets every path (embedding, training, the demo) run without pretrained weights; its vectors are NOT MuQ
embeddings, and its encoder id says so (`muq-small-random:...`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from embedding.base import EncoderError, state_dict_digest
from embedding.muq_encoder import MuQEncoder

if TYPE_CHECKING:
    from muq import MuQ

SMALL_RANDOM_KIND = "muq-small-random"
# log-mel (dB) statistics on the scale of the published MuQ-large `stat`, so inputs are about zero-mean, unit-var
SMALL_MUQ_STAT = {"melspec_2048_cnt": 0, "melspec_2048_mean": 6.768444971712967, "melspec_2048_std": 18.417922652295623}


def small_muq_config(
    encoder_dim: int = 128,
    depth: int = 2,
    conv_dim: int = 16,
    *,
    num_heads: int = 4,
    ffn_multiplier: int = 4,
    conv_kernel_size: int = 31,
    codebook_size: int = 1024,
) -> dict[str, Any]:
    """A full MuQConfig (as a dict) for a small conformer MuQ with the real architecture.

    Same front end as MuQ-large (24 kHz, 128-band log-mel, hop 240, 2-D conv subsampling to 25 frames/s)
    and the same Wav2Vec2-Conformer blocks (relative position attention, depthwise conv kernel 31), only
    narrower and shallower. The defaults embed a 3 x 10 s track in tens of milliseconds on 2 CPU cores
    (`benchmarks/encoder.py`).
    """
    from muq import MuQConfig
    from transformers import Wav2Vec2ConformerConfig

    if encoder_dim % num_heads or encoder_dim % 16:
        raise EncoderError("encoder_dim must be divisible by num_heads and by 16 (conformer conv groups)")
    if depth < 1 or conv_dim < 1:
        raise EncoderError("depth and conv_dim must be >= 1")
    w2v2 = Wav2Vec2ConformerConfig(
        hidden_size=encoder_dim,
        num_hidden_layers=depth,
        num_attention_heads=num_heads,
        intermediate_size=ffn_multiplier * encoder_dim,
        conv_depthwise_kernel_size=conv_kernel_size,
        position_embeddings_type="relative",
        layerdrop=0.0,  # dropping one of two layers at random would make fine-tuning needlessly noisy
    ).to_dict()
    for key in ("id2label", "label2id", "transformers_version"):  # MuQ cannot take them; version is not config
        w2v2.pop(key, None)
    config = MuQConfig(
        encoder_dim=encoder_dim,
        encoder_depth=depth,
        conv_dim=conv_dim,
        codebook_size=codebook_size,
        stat=dict(SMALL_MUQ_STAT),
        w2v2_config=w2v2,
    )
    plain: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    return plain


def build_small_muq(seed: int = 0, **config_overrides: Any) -> MuQ:
    """A randomly initialised small MuQ (see `small_muq_config`); the same seed gives identical weights."""
    from muq import MuQ, MuQConfig

    config = small_muq_config(**config_overrides)
    # MuQ's quantizer calls torch.manual_seed(142) while building; fork so the caller's RNG is untouched
    with torch.random.fork_rng(devices=[]):
        model = MuQ(MuQConfig(**config))
        _reinitialise(model, seed)
    return model.eval()


def _reinitialise(model: nn.Module, seed: int) -> None:
    """Draw every trainable weight again from `seed` (MuQ's own init is seeded with a constant)."""
    from muq.muq.modules.random_quantizer import RandomProjectionQuantizer
    from torch.nn.utils import parametrize

    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, RandomProjectionQuantizer) or parametrize.is_parametrized(module):
            continue  # fixed targets of pre-training / an unused weight-normed conv: keep MuQ's own init
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    for name, param in model.named_parameters():
        if name.endswith("cls_token"):
            with torch.no_grad():
                param.normal_()


def small_encoder(seed: int, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    """The small random MuQ of `seed` as an encoder (what `load_encoder("small:SEED")` returns)."""
    model = build_small_muq(seed)
    return MuQEncoder(
        model,
        source=f"small:{seed}",
        layer=layer,
        device=device,
        batch_size=batch_size,
        kind=SMALL_RANDOM_KIND,
        weights_fingerprint=f"random-init:seed{seed}:sha256:{state_dict_digest(model)}",
        label=f"seed{seed}",
        provenance={"seed": seed},
    )
