"""The encoder registry: `load_encoder(spec)` names every encoder MUSEED can build, offline.

The backends live in their own modules: the shared protocol and errors in `embedding.base`, the MuQ encoder in
`embedding.muq_encoder`, the small random MuQ in `embedding.small_muq`, the MUSEED checkpoint format in
`embedding.checkpoint`, MuQ-MuLan in `embedding.mulan`; pooling in `embedding.pooling`. This module loads
pretrained MuQ directories and hub snapshots itself and dispatches the rest. Its public names stay importable
from here (`from embedding.encoders import MuQEncoder, ...`) for the callers that always have.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import torch

from embedding.base import (
    Encoder,
    EncoderError,
    EncoderNotCachedError,
    RandomEncoderWarning,
    library_versions,
    state_dict_digest,
)
from embedding.checkpoint import (
    BACKBONE_WEIGHTS_FILE,
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    HEAD_WEIGHTS_FILE,
    build_projection_head,
    load_checkpoint,
    save_encoder_checkpoint,
)
from embedding.mulan import load_mulan
from embedding.muq_encoder import (
    MIN_SEGMENT_SAMPLES,
    MUQ_SAMPLE_RATE,
    POOLING,
    PRETRAINED_DEPTH,
    PRETRAINED_LAYER,
    MuQEncoder,
    default_layer,
    muq_config_dict,
)
from embedding.musicnn import MUSICNN_SAMPLE_RATE, MusicnnNotInstalledError
from embedding.musicnn_encoder import MUSICNN_KIND, MusicnnEncoder, load_musicnn, load_musicnn_checkpoint
from embedding.small_muq import SMALL_MUQ_STAT, SMALL_RANDOM_KIND, build_small_muq, small_encoder, small_muq_config
from embedding.weights import file_digest, load_state, read_json, read_weights
from museed.settings import Settings, get_settings

__all__ = [
    "BACKBONE_WEIGHTS_FILE",
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "HEAD_WEIGHTS_FILE",
    "MIN_SEGMENT_SAMPLES",
    "MUQ_SAMPLE_RATE",
    "MUSICNN_KIND",
    "POOLING",
    "PRETRAINED_DEPTH",
    "PRETRAINED_LAYER",
    "SMALL_MUQ_STAT",
    "SMALL_RANDOM_KIND",
    "Encoder",
    "EncoderError",
    "EncoderNotCachedError",
    "MuQEncoder",
    "MusicnnEncoder",
    "RandomEncoderWarning",
    "build_projection_head",
    "build_small_muq",
    "default_layer",
    "encoder_sample_rate",
    "library_versions",
    "load_encoder",
    "muq_config_dict",
    "save_encoder_checkpoint",
    "small_muq_config",
    "state_dict_digest",
]

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# weights a pretrained directory must provide; anything else missing (quantizer buffers) is rebuilt by MuQ
_REQUIRED_PREFIXES = ("model.conv.", "model.conformer.layers.", "model.conformer.layer_norm.")


def load_encoder(
    spec: str = "auto",
    *,
    settings: Settings | None = None,
    device: str | None = None,
    batch_size: int = 8,
    layer: int | None = None,
) -> MuQEncoder:
    """Build the encoder named by `spec`. Never touches the network.

    - "auto": `settings.muq_local_dir` if set, else `settings.muq_hub_id` from the Hugging Face cache; when
      neither is available, the pretrained MusiCNN (MSD) from the installed `musicnn` wheel (the reason is
      logged and kept in `provenance["fallback_reason"]`); without that package either, `EncoderNotCachedError`.
    - "musicnn", "musicnn:MSD", "musicnn:MTT": pretrained MusiCNN (`embedding.musicnn_encoder`), 16 kHz, 200-d.
    - "small" / "small:SEED": the small randomly initialised MuQ (asked for by name only: tests, demos).
    - "mulan", "mulan:OWNER/NAME", "mulan:DIR" or "OpenMuQ/MuQ-MuLan-large": the MuQ-MuLan audio tower
      (`embedding.mulan.load_mulan`), for the tagging vector space.
    - "owner/name": a MuQ in the Hugging Face cache (offline; `EncoderError` if it is not there).
    - a directory: a MuQ `save_pretrained` directory (config.json + model.safetensors or pytorch_model.bin)
      or a MUSEED checkpoint (museed_encoder.json, see `save_encoder_checkpoint`).
    `layer` overrides the default (or recorded) hidden layer.
    """
    settings = settings or get_settings()
    spec = spec.strip()
    if spec == "mulan" or spec.startswith("mulan:") or spec.rstrip("/").endswith("MuQ-MuLan-large"):
        # the MuLan audio tower speaks the same Encoder protocol; `museed embed --also-encoder` uses it
        return load_mulan(spec if spec.startswith("mulan") else f"mulan:{spec}", device=device)  # type: ignore[return-value]
    if spec == MUSICNN_KIND or spec.startswith(f"{MUSICNN_KIND}:"):
        return load_musicnn(spec, device=device, batch_size=batch_size, layer=layer)
    if spec == "auto":
        return _load_auto(settings, device=device, batch_size=batch_size, layer=layer)
    if spec == "small" or spec.startswith("small:"):
        seed_text = spec.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise EncoderError(f"bad encoder spec {spec!r}: the seed in 'small:SEED' must be a whole number")
        return small_encoder(int(seed_text), device, batch_size, layer)
    path = Path(spec).expanduser()
    if path.exists():
        return _load_directory(path, device=device, batch_size=batch_size, layer=layer)
    if _HUB_ID.fullmatch(spec):
        return _load_hub(spec, device=device, batch_size=batch_size, layer=layer)
    raise EncoderError(
        f"unknown encoder spec {spec!r}: expected 'auto', 'musicnn', 'musicnn:MSD', 'musicnn:MTT', 'small', "
        "'small:SEED', a Hugging Face repo id "
        "(owner/name) in the local cache, or an existing directory"
    )


def _load_auto(settings: Settings, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    if settings.muq_local_dir is not None:
        # an explicitly configured directory that is missing is a deployment error, not a reason to degrade
        if not Path(settings.muq_local_dir).expanduser().exists():
            raise EncoderError(f"MUSEED_MUQ_LOCAL_DIR={settings.muq_local_dir} does not exist")
        return _load_directory(
            Path(settings.muq_local_dir).expanduser(), device=device, batch_size=batch_size, layer=layer
        )
    try:
        return _load_hub(settings.muq_hub_id, device=device, batch_size=batch_size, layer=layer)
    except EncoderNotCachedError as error:  # cached-but-broken weights stay an error
        reason = str(error)
    try:
        encoder = load_musicnn(MUSICNN_KIND, device=device, batch_size=batch_size, layer=layer)
    except MusicnnNotInstalledError as error:  # broken musicnn weights raise on their own
        # the random small MuQ is only ever served by name ("small"): arbitrary vectors must be asked for
        raise EncoderNotCachedError(
            f"no pretrained encoder on this machine: {reason}; and {error}. Or ask for the small random MuQ "
            "by name (--encoder small), whose vectors are not embeddings of anything."
        ) from None
    log.warning("no pretrained MuQ (%s): serving the pretrained MusiCNN %s", reason, encoder.encoder_id)
    encoder.provenance["fallback_reason"] = reason
    return encoder


def encoder_sample_rate(spec: str, *, settings: Settings | None = None) -> int:
    """The sample rate the encoder named by `spec` takes, without building it (training decodes audio first)."""
    settings = settings or get_settings()
    spec = spec.strip()
    if spec == MUSICNN_KIND or spec.startswith(f"{MUSICNN_KIND}:"):
        return MUSICNN_SAMPLE_RATE
    path = Path(spec).expanduser()
    if (path / CHECKPOINT_FILE).is_file():
        return int(read_json(path / CHECKPOINT_FILE).get("sample_rate", MUQ_SAMPLE_RATE))
    if spec == "auto" and settings.muq_local_dir is None:
        from huggingface_hub import snapshot_download

        try:
            snapshot_download(settings.muq_hub_id, local_files_only=True)
        except Exception:  # not cached: "auto" serves MusiCNN when its package is there
            import importlib.util

            return MUSICNN_SAMPLE_RATE if importlib.util.find_spec("musicnn") else MUQ_SAMPLE_RATE
    return MUQ_SAMPLE_RATE


def _load_hub(hub_id: str, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    from huggingface_hub import snapshot_download

    try:
        # local_files_only: the cache or nothing, never a network attempt (no internet here)
        snapshot = Path(snapshot_download(hub_id, local_files_only=True))
    except Exception as error:
        raise EncoderNotCachedError(
            f"{hub_id} is not in the Hugging Face cache (offline lookup: {type(error).__name__}); download it "
            f"on a connected machine (`huggingface-cli download {hub_id}`) or point MUSEED_MUQ_LOCAL_DIR at it"
        ) from None
    return _load_pretrained_dir(
        snapshot,
        source=hub_id,
        kind="muq",
        fingerprint=f"hf:{hub_id}@{snapshot.name}",  # the snapshot directory is named by the commit
        device=device,
        batch_size=batch_size,
        layer=layer,
    )


def _load_directory(path: Path, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    if not path.is_dir():
        raise EncoderError(f"{path} is not a directory (expected a MuQ save_pretrained dir or a checkpoint)")
    if (path / CHECKPOINT_FILE).is_file():
        meta = read_json(path / CHECKPOINT_FILE)
        if meta.get("backbone") == MUSICNN_KIND and meta.get("format") == CHECKPOINT_FORMAT:
            return load_musicnn_checkpoint(path, meta, device=device, batch_size=batch_size, layer=layer)
        return load_checkpoint(path, device=device, batch_size=batch_size, layer=layer)
    if (path / "config.json").is_file():
        return _load_pretrained_dir(
            path,
            source=str(path),
            kind="muq-local",
            fingerprint=None,
            device=device,
            batch_size=batch_size,
            layer=layer,
        )
    raise EncoderError(f"{path} holds neither {CHECKPOINT_FILE} nor config.json: not an encoder directory")


def _load_pretrained_dir(
    path: Path,
    *,
    source: str,
    kind: str,
    fingerprint: str | None,
    device: str | None,
    batch_size: int,
    layer: int | None,
) -> MuQEncoder:
    """A MuQ `save_pretrained` directory, loaded here rather than by `from_pretrained` (which prints to
    stdout, reads only model.safetensors from a directory, and ignores missing weights)."""
    from muq import MuQ, MuQConfig

    config = read_json(path / "config.json")
    if set(config) == {"config"}:  # older hub mixins nest the init argument
        config = config["config"]
    known = {f.name for f in dataclasses.fields(MuQConfig)}
    if unknown := sorted(set(config) - known):
        log.warning("ignoring unknown MuQConfig keys in %s: %s", path / "config.json", unknown)
    weights = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)
    if weights is None:
        raise EncoderError(f"{path} has config.json but no model.safetensors or pytorch_model.bin")
    try:
        with torch.random.fork_rng(devices=[]):
            model = MuQ(MuQConfig(**{k: v for k, v in config.items() if k in known}))
        state = read_weights(weights)
    except EncoderError:
        raise
    except Exception as error:
        raise EncoderError(f"cannot build MuQ from {path}: {error}") from None
    load_state(model, state, path, required_prefixes=_REQUIRED_PREFIXES)
    return MuQEncoder(
        model.eval(),
        source=source,
        layer=layer,
        device=device,
        batch_size=batch_size,
        kind=kind,
        weights_fingerprint=fingerprint or f"sha256:{file_digest(weights)}",
        label=path.name,
    )
