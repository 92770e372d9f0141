"""Reading model files for the MuQ loaders: JSON metadata, weight files and strict-enough state-dict loading.

Shared by the pretrained-directory loader (`embedding.encoders`) and the MUSEED checkpoint format
(`embedding.checkpoint`); every failure is an `EncoderError` that names the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from embedding.base import EncoderError

log = logging.getLogger("embedding.encoders")  # the loaders' logger, as before the split


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path` (`EncoderError` when unreadable or not an object)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise EncoderError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise EncoderError(f"{path} does not hold a JSON object")
    return data


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a `.safetensors` file or a `torch.save` file (weights only), on CPU."""
    if not path.is_file():
        raise EncoderError(f"weights file {path} is missing")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
        return state
    except Exception as error:
        raise EncoderError(f"cannot read weights {path}: {error}") from None


def load_state(
    module: nn.Module, state: Mapping[str, torch.Tensor], where: Path, *, required_prefixes: tuple[str, ...] | None
) -> None:
    """Load weights, failing on anything the embedding path needs (all keys when `required_prefixes` is None)."""
    try:
        result = module.load_state_dict(dict(state), strict=False)
    except RuntimeError as error:  # shape mismatch: the config does not describe these weights
        raise EncoderError(f"weights in {where} do not fit the model config: {error}") from None
    missing = [k for k in result.missing_keys if required_prefixes is None or k.startswith(required_prefixes)]
    if missing or (required_prefixes is None and result.unexpected_keys):
        raise EncoderError(
            f"weights in {where} do not match the model: missing {missing[:5]}, "
            f"unexpected {list(result.unexpected_keys)[:5]}"
        )
    if result.missing_keys or result.unexpected_keys:
        log.warning(
            "weights in %s: %d optional keys missing (rebuilt by MuQ), %d unexpected keys ignored",
            where,
            len(result.missing_keys),
            len(result.unexpected_keys),
        )


def file_digest(path: Path) -> str:
    """sha256 of a whole file."""
    # the whole file: fine-tuning may leave the first megabytes (frozen front end) unchanged
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
